import { mkdtempSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { systemClock, waitFor } from '../lifecycle';
import { createSilentLogger } from '../log';
import { FileSource, LocalRegistry, parseManifest } from './index';
import { safetyScanDelay } from './scan-schedule';
import type { ChangeSet } from './index';

const ns = (name: string, extra = ''): string =>
  `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n${extra}`;
const pod = (name: string, ip: string): string =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: default\n` +
  `spec:\n  nodeName: n1\nstatus:\n  podIP: ${ip}\n`;

async function setup(t: Test, files: Record<string, string>) {
  const dir = mkdtempSync(path.join(tmpdir(), 'ambientd-fs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [f, c] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    writeFileSync(path.join(dir, f), c);
  }
  const registry = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  const changes: ChangeSet[] = [];
  registry.onChange((c) => changes.push(c));
  const src = new FileSource({ dir, registry, logger: createSilentLogger(), clock: systemClock, pollIntervalMs: 100 });
  t.teardown(() => src.close());
  await src.start();
  return { dir, registry, changes, src };
}

t.test('parseManifest: multi-document YAML and kubectl List output', async (t) => {
  const text = [
    ns('a'),
    '---',
    '# only a comment',
    '---',
    'apiVersion: v1\nkind: List\nitems:\n' +
      '- apiVersion: v1\n  kind: Namespace\n  metadata: {name: b}\n' +
      '- apiVersion: v1\n  kind: Namespace\n  metadata: {name: c}\n',
    '---',
    'kind: [unclosed',
  ].join('\n');
  const p = parseManifest(text, 'f.yaml');
  t.same(
    p.objects.map((o) => o.origin),
    ['f.yaml#0', 'f.yaml#2.0', 'f.yaml#2.1'],
  );
  t.same(
    p.objects.map((o) => (o.obj['metadata'] as { name: string }).name),
    ['a', 'b', 'c'],
  );
  t.equal(p.errors.length, 1);
  t.match(p.errors[0], { origin: 'f.yaml#3', reason: /YAML does not parse/ });
});

t.test('initial load: directory tree, yaml/yml/json, markLoaded', async (t) => {
  const { registry } = await setup(t, {
    'a.yaml': `${ns('a')}---\n${ns('b')}`,
    'sub/dir/c.yml': ns('c'),
    'd.json': JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'd' } }),
    'ignored.txt': ns('x'),
    '.hidden.yaml': ns('y'),
  });
  t.ok(registry.isLoaded());
  t.same([...registry.snapshot().namespaces.keys()].sort(), ['a', 'b', 'c', 'd']);
});

t.test('hot reload: add, edit, rename, delete', async (t) => {
  const { dir, registry } = await setup(t, { 'a.yaml': pod('p1', '10.0.0.1') });
  const pods = () => registry.snapshot().pods;
  writeFileSync(path.join(dir, 'b.yaml'), pod('p2', '10.0.0.2'));
  await waitFor(() => pods().has('default/p2'), { timeoutMs: 5000, what: 'added file' });
  writeFileSync(path.join(dir, 'a.yaml'), pod('p1', '10.0.0.11'));
  await waitFor(() => pods().get('default/p1')?.ips[0] === '10.0.0.11', { timeoutMs: 5000, what: 'edited file' });
  renameSync(path.join(dir, 'b.yaml'), path.join(dir, 'c.yaml'));
  await waitFor(() => registry.snapshot().rejected.length === 0 && pods().has('default/p2'), { timeoutMs: 5000 });
  rmSync(path.join(dir, 'a.yaml'));
  await waitFor(() => !pods().has('default/p1'), { timeoutMs: 5000, what: 'deleted file' });
  t.same([...pods().keys()], ['default/p2']);
});

t.test('bad document rejected with file+index+reason; last good version stays', async (t) => {
  const { dir, registry } = await setup(t, { 'm.yaml': `${ns('a')}---\n${pod('p1', '10.0.0.1')}` });
  writeFileSync(path.join(dir, 'm.yaml'), `${ns('a', '  labels:\n    x: y\n')}---\n${pod('p1', '10.0.0.999')}`);
  await waitFor(() => registry.snapshot().rejected.length === 1, { timeoutMs: 5000 });
  const s = registry.snapshot();
  t.match(s.rejected[0], { kind: 'Pod', key: 'default/p1', origin: 'm.yaml#1', reason: /not a valid IP/ });
  t.same(s.pods.get('default/p1')?.ips, ['10.0.0.1'], 'last good version in force');
  // The other document still applied.
  t.same(s.namespaces.get('a')?.labels, { x: 'y' });
});

t.test(
  'EndpointSlice from a file: accepted; a malformed IP rejects that slice alone and the last good one stays',
  async (t) => {
    const slice = (ip: string): string =>
      'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n' +
      'metadata:\n  name: ext-1\n  namespace: default\n  labels:\n    kubernetes.io/service-name: ext\n' +
      `addressType: IPv4\nports:\n- name: http\n  port: 8080\nendpoints:\n- addresses: [${ip}]\n`;
    const { dir, registry } = await setup(t, { 'm.yaml': `${slice('192.168.1.10')}---\n${pod('p1', '10.0.0.1')}` });
    t.same(
      registry
        .snapshot()
        .endpointSlices.get('default/ext-1')
        ?.endpoints.map((e) => e.addresses),
      [['192.168.1.10']],
    );
    writeFileSync(path.join(dir, 'm.yaml'), `${slice('192.168.1.999')}---\n${pod('p1', '10.0.0.2')}`);
    await waitFor(() => registry.snapshot().rejected.length === 1, { timeoutMs: 5000 });
    const s = registry.snapshot();
    t.match(s.rejected[0], {
      kind: 'EndpointSlice',
      key: 'default/ext-1',
      origin: 'm.yaml#0',
      reason: /endpoints\[0\]\.addresses\[0\]: "192\.168\.1\.999" is not a valid IP/,
    });
    t.same(
      s.endpointSlices.get('default/ext-1')?.endpoints[0]?.addresses,
      ['192.168.1.10'],
      'last good slice in force',
    );
    t.same(s.pods.get('default/p1')?.ips, ['10.0.0.2'], 'the other document still applied');
  },
);

t.test('YAML that does not parse: other documents and the last good version survive', async (t) => {
  const { dir, registry } = await setup(t, { 'm.yaml': `${ns('a')}---\n${pod('p1', '10.0.0.1')}` });
  writeFileSync(
    path.join(dir, 'm.yaml'),
    `${ns('a', '  labels:\n    x: y\n')}---\napiVersion: v1\nkind: Pod\nmetadata: {name: [p1\n`,
  );
  await waitFor(() => registry.snapshot().rejected.length === 1, { timeoutMs: 5000 });
  const s = registry.snapshot();
  t.match(s.rejected[0], { origin: 'm.yaml#1', reason: /YAML does not parse/ });
  t.ok(s.pods.has('default/p1'), 'pod from the broken document kept');
  t.same(s.namespaces.get('a')?.labels, { x: 'y' }, 'valid document applied');
  // Fixing the file clears the error and applies the whole file again.
  writeFileSync(path.join(dir, 'm.yaml'), ns('a'));
  await waitFor(() => registry.snapshot().rejected.length === 0 && !registry.snapshot().pods.has('default/p1'), {
    timeoutMs: 5000,
  });
  t.same([...registry.snapshot().pods.keys()], [], 'recovered: the fixed file no longer has the pod');
});

t.test('unchanged reload produces no ChangeSet', async (t) => {
  const { dir, registry, changes, src } = await setup(t, { 'm.yaml': pod('p1', '10.0.0.1') });
  const before = changes.length;
  const v = registry.snapshot().version;
  // Same content, new mtime: the file is re-read but nothing changes.
  writeFileSync(path.join(dir, 'm.yaml'), `# touched\n${pod('p1', '10.0.0.1')}`);
  writeFileSync(path.join(dir, 'z.yaml'), ns('z'));
  await waitFor(() => registry.snapshot().namespaces.has('z'), { timeoutMs: 5000 });
  await src.scan();
  t.equal(changes.length, before + 1, 'only the new namespace produced a change');
  t.same([...changes.at(-1)!.byKind.keys()], ['Namespace']);
  t.equal(registry.snapshot().version, v + 1);
});

t.test('a removed subdirectory withdraws its objects; close is idempotent', async (t) => {
  const { dir, registry, src } = await setup(t, { 'sub/a.yaml': ns('a'), 'b.yaml': ns('b') });
  t.same([...registry.snapshot().namespaces.keys()].sort(), ['a', 'b']);
  rmSync(path.join(dir, 'sub'), { recursive: true });
  await waitFor(() => !registry.snapshot().namespaces.has('a'), { timeoutMs: 5000, what: 'removed directory' });
  t.same([...registry.snapshot().namespaces.keys()], ['b']);
  await src.close();
  await src.close();
  src.destroy();
  // After close nothing is picked up any more, even on an explicit scan.
  writeFileSync(path.join(dir, 'c.yaml'), ns('c'));
  await src.scan();
  t.notOk(registry.snapshot().namespaces.has('c'), 'closed source applies nothing');
});

t.test('missing directory at start: not loaded (never synced, reported), loaded when it appears', async (t) => {
  const parent = mkdtempSync(path.join(tmpdir(), 'ambientd-fs-'));
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  const dir = path.join(parent, 'later');
  const registry = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  const src = new FileSource({ dir, registry, logger: createSilentLogger(), clock: systemClock, pollIntervalMs: 100 });
  t.teardown(() => src.close());
  await src.start();
  t.notOk(registry.isLoaded(), 'a directory never read is not a synced, empty one');
  t.match(src.health(), { healthy: false, synced: false, problems: [{ path: '.', code: 'dir', reason: /ENOENT/ }] });
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'a.yaml'), ns('a'));
  await waitFor(() => registry.snapshot().namespaces.has('a'), { timeoutMs: 5000, what: 'directory created later' });
  t.same([...registry.snapshot().namespaces.keys()], ['a'], 'picked up by the periodic scan');
  await waitFor(() => registry.isLoaded(), { timeoutMs: 5000, what: 'loaded' });
  t.match(src.health(), { healthy: true, synced: true, problems: [] });
});

t.test('safety scan: its share of wall time stays bounded as the directory grows', async (t) => {
  t.equal(safetyScanDelay(1000, 3), 1000, 'a quick scan keeps the configured period');
  t.equal(safetyScanDelay(1000, 450), 9000, 'a 450 ms scan (10k files) waits 20× its duration');
  t.equal(safetyScanDelay(100, 0), 100);
});
