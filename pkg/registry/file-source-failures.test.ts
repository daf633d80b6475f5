import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import type { Test } from 'tap';
import { Registry } from 'prom-client';
import { systemClock, waitFor } from '../lifecycle';
import { createSilentLogger } from '../log';
import { FileSource, LocalRegistry } from './index';
import type { FileSourceOptions } from './index';

// "A failure is never a deletion" (a source error keeps the last good state; issue #18 items 1, 2, 5)
// for the directory source.

const pod = (name: string, ip: string): string =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: default\n` +
  `spec:\n  nodeName: n1\nstatus:\n  podIP: ${ip}\n`;
const pods = (n: number, prefix = 'p'): string =>
  Array.from({ length: n }, (_, i) => pod(`${prefix}${i}`, `10.0.0.${i + 1}`)).join('---\n');

async function setup(t: Test, files: Record<string, string>, extra: Partial<FileSourceOptions> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'ambientd-fsf-'));
  t.teardown(() => {
    chmodSync(dir, 0o755);
    rmSync(dir, { recursive: true, force: true });
  });
  for (const [f, c] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    writeFileSync(path.join(dir, f), c);
  }
  const registry = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  const metrics = new Registry();
  const src = new FileSource({
    dir,
    registry,
    logger: createSilentLogger(),
    clock: systemClock,
    pollIntervalMs: 50,
    metrics,
    ...extra,
  });
  t.teardown(() => src.close());
  await src.start();
  return { dir, registry, src, metrics };
}

const podNames = (r: LocalRegistry): string[] => [...r.snapshot().pods.keys()].sort();

t.test('a file overwritten with garbage keeps its objects; the source reports the file until it parses', async (t) => {
  const { dir, registry, src, metrics } = await setup(t, { 'a.yaml': pods(6) });
  t.equal(registry.snapshot().pods.size, 6);
  // Random bytes, then a YAML scalar, then a list: none of them is "no objects".
  for (const garbage of [randomBytes(4096), 'just some text\n', '- 1\n- 2\n']) {
    writeFileSync(path.join(dir, 'a.yaml'), garbage);
    await waitFor(() => !src.health().healthy, { timeoutMs: 5000, what: 'problem reported' });
    t.equal(registry.snapshot().pods.size, 6, 'all six pods kept');
    t.match(src.health().problems, [{ path: 'a.yaml', code: 'parse' }]);
    writeFileSync(path.join(dir, 'a.yaml'), pods(6));
    await waitFor(() => src.health().healthy, { timeoutMs: 5000, what: 'healthy again' });
  }
  t.match(await metrics.getSingleMetricAsString('ambientd_registry_read_failures_total'), /code="parse"} 3/);
  // A successful read that no longer has an object removes it.
  writeFileSync(path.join(dir, 'a.yaml'), pods(2));
  await waitFor(() => registry.snapshot().pods.size === 2, { timeoutMs: 5000, what: 'shrunk by a good read' });
});

t.test(
  'a file truncated before it is rewritten keeps its objects; one left empty is withdrawn a poll later',
  async (t) => {
    const { dir, registry, src } = await setup(t, { 'a.yaml': pods(3) }, { pollIntervalMs: 200 });
    writeFileSync(path.join(dir, 'a.yaml'), ''); // what O_TRUNC shows a reader before the new bytes land
    await src.scan();
    t.equal(registry.snapshot().pods.size, 3, 'a moment of emptiness withdraws nothing');
    t.match(src.health().problems, [{ path: 'a.yaml', code: 'read', reason: /empty/ }]);
    writeFileSync(path.join(dir, 'a.yaml'), randomBytes(4096));
    await waitFor(() => src.health().problems.some((p) => p.code === 'parse'), {
      timeoutMs: 5000,
      what: 'garbage seen',
    });
    t.equal(registry.snapshot().pods.size, 3, 'still kept: the garbage is a parse failure');
    writeFileSync(path.join(dir, 'a.yaml'), '');
    await waitFor(() => registry.snapshot().pods.size === 0, { timeoutMs: 5000, what: 'emptiness that held still' });
    t.ok(src.health().healthy, 'an empty file that stays empty is a successful read');
  },
);

/**
 * Makes `sub` unlistable. Root ignores permission bits, so as root the listing call itself fails with EACCES:
 * dir-scan calls fs/promises' readdir through the module object at each call, so replacing it there is seen.
 */
function denyListing(t: Test, sub: string): () => void {
  if (process.getuid?.() !== 0) {
    chmodSync(sub, 0);
    return () => chmodSync(sub, 0o755);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the live module object, not a namespace copy
  const fsp = require('node:fs/promises') as { readdir: (p: string, ...rest: unknown[]) => Promise<unknown> };
  const real = fsp.readdir;
  fsp.readdir = async (p: string, ...rest: unknown[]) => {
    if (path.resolve(p) === path.resolve(sub)) {
      throw Object.assign(new Error(`EACCES: permission denied, scandir '${p}'`), { code: 'EACCES' });
    }
    return real(p, ...rest);
  };
  const restore = (): void => {
    fsp.readdir = real;
  };
  t.teardown(restore);
  return restore;
}

t.test('an unreadable directory or file keeps its objects and reports it (EACCES)', async (t) => {
  const { dir, registry, src } = await setup(t, { 'a.yaml': pods(2), 'sub/b.yaml': pods(2, 'q') });
  const allow = denyListing(t, path.join(dir, 'sub'));
  writeFileSync(path.join(dir, 'a.yaml'), pods(1));
  await waitFor(() => registry.snapshot().pods.size === 3, { timeoutMs: 5000, what: 'a.yaml reloaded' });
  await waitFor(() => !src.health().healthy, { timeoutMs: 5000, what: 'sub reported' });
  t.same(podNames(registry), ['default/p0', 'default/q0', 'default/q1']);
  t.match(src.health().problems, [{ path: 'sub', reason: /EACCES/ }], 'the directory and its reason are reported');
  allow();
  await waitFor(() => src.health().healthy, { timeoutMs: 5000, what: 'healthy again' });
});

t.test('a vanished directory withdraws nothing; files removed from a readable directory are withdrawn', async (t) => {
  const { dir, registry, src } = await setup(t, { 'a.yaml': pods(3), 'sub/b.yaml': pods(2, 'q') });
  t.equal(registry.snapshot().pods.size, 5);
  const moved = `${dir}.moved`;
  renameSync(dir, moved);
  t.teardown(() => rmSync(moved, { recursive: true, force: true }));
  await src.scan();
  t.equal(registry.snapshot().pods.size, 5, 'nothing withdrawn');
  t.match(src.health(), { healthy: false, synced: true, problems: [{ path: '.', code: 'dir', reason: /ENOENT/ }] });
  renameSync(moved, dir);
  rmSync(path.join(dir, 'sub'), { recursive: true });
  await src.scan();
  t.same(podNames(registry), ['default/p0', 'default/p1', 'default/p2'], 'a listing without sub/ withdraws it');
  t.ok(src.health().healthy);
});

t.test('a path that becomes a directory is no manifest: the listing withdraws it', async (t) => {
  const { dir, registry, src } = await setup(t, { 'a.yaml': pods(2) });
  rmSync(path.join(dir, 'a.yaml'));
  mkdirSync(path.join(dir, 'a.yaml')); // a directory where the file was: not a file, listing says so
  await src.scan();
  t.equal(
    registry.snapshot().pods.size,
    0,
    'a listing that names no such file removes it (a directory is not a manifest)',
  );
  rmSync(path.join(dir, 'a.yaml'), { recursive: true });
  writeFileSync(path.join(dir, 'a.yaml'), pods(2));
  await src.scan();
  t.equal(registry.snapshot().pods.size, 2);
  t.ok(src.health().healthy);
});

t.test('symlinks: in-tree links are read, links leaving the directory are refused with a reason', async (t) => {
  const outside = mkdtempSync(path.join(tmpdir(), 'ambientd-outside-'));
  t.teardown(() => rmSync(outside, { recursive: true, force: true }));
  writeFileSync(path.join(outside, 'evil.yaml'), pod('evil', '10.9.9.9'));
  const { dir, registry, src } = await setup(t, { 'real/a.yaml': pod('a', '10.0.0.1') });
  symlinkSync(path.join(outside, 'evil.yaml'), path.join(dir, 'evil.yaml'));
  symlinkSync(path.join(dir, 'real/a.yaml'), path.join(dir, 'link.yaml'));
  await src.scan();
  t.same(podNames(registry), ['default/a'], 'the escaping link is not followed');
  t.match(src.health().problems, [{ path: 'evil.yaml', code: 'symlink', reason: /leaves the registry directory/ }]);
  t.ok(
    registry.snapshot().rejected.some((r) => r.key === 'default/a' && /duplicate/.test(r.reason)),
    'the in-tree link supplies the same pod as its target: a reported duplicate',
  );
  rmSync(path.join(dir, 'evil.yaml'));
  await src.scan();
  t.notOk(
    src.health().problems.some((p) => p.code === 'symlink'),
    'refusal clears once the link is gone',
  );
});

t.test('duplicates across files: the first file by name wins, whatever the order of writes; reported', async (t) => {
  const { dir, registry } = await setup(t, { 'b.yaml': pod('x', '10.0.0.2') });
  writeFileSync(path.join(dir, 'a.yaml'), pod('x', '10.0.0.1'));
  await waitFor(() => registry.snapshot().rejected.length === 1, { timeoutMs: 5000, what: 'conflict' });
  t.same(registry.snapshot().pods.get('default/x')?.ips, ['10.0.0.1'], 'a.yaml sorts first and wins');
  t.match(registry.snapshot().rejected, [
    { kind: 'Pod', key: 'default/x', origin: 'file:b.yaml', reason: /file:a.yaml wins/ },
  ]);
  rmSync(path.join(dir, 'a.yaml'));
  await waitFor(() => registry.snapshot().rejected.length === 0, { timeoutMs: 5000, what: 'resolved' });
  t.same(registry.snapshot().pods.get('default/x')?.ips, ['10.0.0.2'], 'b.yaml takes over');
});

t.test(
  'parse limits: an over-limit file is rejected alone with a reason and keeps its last good objects',
  async (t) => {
    const { dir, registry, src } = await setup(
      t,
      { 'a.yaml': pods(2), 'b.yaml': pods(1, 'q') },
      {
        parseLimits: { maxNodes: 5_000, maxAliases: 3, maxDepth: 64 },
      },
    );
    const cases: [string, RegExp][] = [
      [`items:\n${'- a\n'.repeat(10_000)}`, /more than 5000 YAML nodes/],
      [`a: &x [1]\nb: [*x, *x, *x, *x]\n`, /more than 3 aliases/],
      [`${'['.repeat(100)}${']'.repeat(100)}\n`, /nested deeper than 64/],
      [`${'- '.repeat(100)}x\n`, /nested deeper than 64/],
    ];
    for (const [text, why] of cases) {
      writeFileSync(path.join(dir, 'a.yaml'), text);
      await waitFor(() => src.health().problems.some((p) => why.test(p.reason)), {
        timeoutMs: 10_000,
        what: `refusal ${why}`,
      });
      t.same(podNames(registry), ['default/p0', 'default/p1', 'default/q0'], `kept under ${why}`);
      t.ok(
        registry.snapshot().rejected.some((r) => r.origin === 'a.yaml' && why.test(r.reason)),
        'rejection with the reason',
      );
    }
    writeFileSync(path.join(dir, 'b.yaml'), pods(2, 'q'));
    await waitFor(() => registry.snapshot().pods.size === 4, { timeoutMs: 5000, what: 'other files still load' });
  },
);

t.test('time budget: the parser worker is replaced, the file rejected, the source goes on', async (t) => {
  const { dir, registry, src } = await setup(
    t,
    { 'a.yaml': pods(2) },
    {
      parseTimeoutMs: 300,
      parseLimits: { maxNodes: 50_000_000 },
    },
  );
  // ~8 MB flat list: well over 300 ms in the YAML library.
  writeFileSync(path.join(dir, 'a.yaml'), `items:\n${'- a\n'.repeat(2_000_000)}`);
  await waitFor(() => src.health().problems.some((p) => /longer than 300 ms/.test(p.reason)), {
    timeoutMs: 20_000,
    what: 'budget refusal',
  });
  t.equal(registry.snapshot().pods.size, 2, 'kept');
  writeFileSync(path.join(dir, 'a.yaml'), pods(3));
  await waitFor(() => registry.snapshot().pods.size === 3, {
    timeoutMs: 10_000,
    what: 'a new worker parses the next version',
  });
  t.ok(src.health().healthy);
});

t.test('byte cap: a larger file is rejected whole with its size', async (t) => {
  const { dir, registry, src } = await setup(t, { 'a.yaml': pods(1) }, { maxFileBytes: 2048 });
  writeFileSync(path.join(dir, 'a.yaml'), `${pods(1)}# ${'x'.repeat(4096)}\n`);
  await waitFor(() => src.health().problems.some((p) => p.code === 'limit'), { timeoutMs: 5000, what: 'size refusal' });
  t.match(src.health().problems[0]!.reason, /larger than 2048 bytes/);
  t.equal(registry.snapshot().pods.size, 1);
});
