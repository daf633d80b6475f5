import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { systemClock, waitFor } from '../lifecycle';
import { createSilentLogger } from '../log';
import { FileSource, LocalRegistry } from './index';
import type { IngestGate } from './index';
import { watchedPathKind } from './dir-scan';

const pod = (name: string, ip: string): string =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: default\n` +
  `spec:\n  nodeName: n1\nstatus:\n  podIP: ${ip}\n`;

/** A gate that keeps the drains it is given until the test runs them. */
class HeldGate implements IngestGate {
  readonly drains: (() => void)[] = [];
  defer(drain: () => void): void {
    this.drains.push(drain);
  }
  runAll(): void {
    for (const d of this.drains.splice(0)) d();
  }
}

async function setup(t: Test, files: Record<string, string>, gateWaitMs = 60_000) {
  const dir = mkdtempSync(path.join(tmpdir(), 'ambientd-gate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [f, c] of Object.entries(files)) writeFileSync(path.join(dir, f), c);
  const registry = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  const gate = new HeldGate();
  const src = new FileSource({ dir, registry, logger: createSilentLogger(), clock: systemClock, gate, gateWaitMs });
  t.teardown(() => src.close());
  await src.start();
  return { dir, registry, gate, pods: () => registry.snapshot().pods };
}

t.test('with a gate, a small file edit waits for the drain, which applies it on the spot', async (t) => {
  const { dir, gate, pods } = await setup(t, { 'a.yaml': pod('p1', '10.0.0.1') });
  writeFileSync(path.join(dir, 'b.yaml'), pod('p2', '10.0.0.2'));
  writeFileSync(path.join(dir, 'a.yaml'), pod('p1', '10.0.0.11'));
  await waitFor(() => gate.drains.length > 0, { timeoutMs: 5000, what: 'the gate told' });
  t.notOk(pods().has('default/p2'), 'not applied before the drain');
  t.equal(pods().get('default/p1')?.ips[0], '10.0.0.1');
  // Both edits may have settled apart: drain until both are in (each drain is synchronous for small files).
  await waitFor(
    () => {
      gate.runAll();
      return pods().has('default/p2') && pods().get('default/p1')?.ips[0] === '10.0.0.11';
    },
    { timeoutMs: 5000, what: 'both edits applied by drains' },
  );
  t.pass('applied by the drains');
});

t.test('a drain applies a small edit synchronously', async (t) => {
  const { dir, gate, pods } = await setup(t, {});
  writeFileSync(path.join(dir, 'c.yaml'), pod('p3', '10.0.0.3'));
  await waitFor(() => gate.drains.length > 0, { timeoutMs: 5000, what: 'the gate told' });
  t.notOk(pods().has('default/p3'));
  gate.runAll();
  t.ok(pods().has('default/p3'), 'in the registry when the drain returns, before any await');
});

t.test('a removed file is withdrawn through the drain (a full scan proves it gone)', async (t) => {
  const { dir, gate, pods } = await setup(t, { 'a.yaml': pod('p1', '10.0.0.1'), 'b.yaml': pod('p2', '10.0.0.2') });
  rmSync(path.join(dir, 'b.yaml'));
  await waitFor(
    () => {
      gate.runAll();
      return !pods().has('default/p2');
    },
    { timeoutMs: 5000, what: 'p2 withdrawn' },
  );
  t.ok(pods().has('default/p1'), 'the other file stays');
});

t.test('a large file is read and parsed by the worker once drained', async (t) => {
  const { dir, gate, pods } = await setup(t, {});
  const docs = Array.from({ length: 200 }, (_, i) => pod(`big-${i}`, `10.1.${i >> 8}.${i & 255}`));
  const text = docs.join('---\n');
  t.ok(text.length > 16 * 1024, 'above the inline size');
  writeFileSync(path.join(dir, 'big.yaml'), text);
  await waitFor(
    () => {
      gate.runAll();
      return pods().has('default/big-199');
    },
    { timeoutMs: 10_000, what: 'the large file applied' },
  );
  t.equal(pods().size, 200);
});

t.test('a gate that never drains is not waited for past gateWaitMs', async (t) => {
  const { dir, gate, pods } = await setup(t, {}, 50);
  writeFileSync(path.join(dir, 'd.yaml'), pod('p4', '10.0.0.4'));
  await waitFor(() => pods().has('default/p4'), { timeoutMs: 5000, what: 'applied without the gate draining' });
  t.ok(gate.drains.length > 0, 'the gate was told');
  gate.runAll();
  t.ok(pods().has('default/p4'), 'a late drain changes nothing');
});

t.test('watchedPathKind: which watch events can name a manifest', async (t) => {
  const root = '/m';
  t.equal(watchedPathKind(root, '/m/a.yaml'), 'manifest');
  t.equal(watchedPathKind(root, '/m/sub/b.YML'), 'manifest');
  t.equal(watchedPathKind(root, '/m/c.json'), 'manifest');
  t.equal(watchedPathKind(root, '/m/.a.yaml.tmp'), 'ignored', "an atomic writer's temporary file");
  t.equal(watchedPathKind(root, '/m/.a.yaml'), 'ignored', 'hidden');
  t.equal(watchedPathKind(root, '/m/notes.txt'), 'ignored');
  t.equal(watchedPathKind(root, '/other/a.yaml'), 'ignored', 'outside the root');
  t.equal(watchedPathKind(root, '/m/newdir'), 'maybe-dir');
});
