import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSilentLogger } from '../../log';
import { waitFor } from '../../lifecycle';
import { PeerPartition, peerFile } from './partition';
import { PeerStateWriter } from './persist';

// An unlink can land while a background write of that peer is under way: the write
// completes after the unlink removed the file, so the writer must report the partition
// as stale (and the layer removes the file again) — never leave it behind.
t.test('a write that an unlink raced reports the partition as stale', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-persist-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const p = new PeerPartition('cluster-x');
  p.dirty = true;
  let linked = true;
  const checks: boolean[] = [];
  const stale: string[] = [];
  const w = new PeerStateWriter({
    stateDir: dir,
    types: new Map(),
    log: createSilentLogger(),
    delayMs: 0,
    due: () => (p.dirty ? [p] : []),
    // Still linked when the write starts; unlinked by the time it has finished.
    current: () => {
      const now = linked;
      checks.push(now);
      linked = false;
      return now;
    },
    onStale: (cluster) => {
      stale.push(cluster);
      fs.rmSync(peerFile(dir, cluster), { force: true });
    },
  });
  t.teardown(() => w.close());
  w.schedule();
  await waitFor(() => stale.length > 0, { timeoutMs: 5000, what: 'stale report' });
  t.same(checks, [true, false], 'checked before and after the write');
  t.same(stale, ['cluster-x']);
  t.notOk(fs.existsSync(peerFile(dir, 'cluster-x')), 'nothing left on disk');
});

t.test('a write of a partition still linked is kept', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-persist-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const p = new PeerPartition('cluster-y');
  p.dirty = true;
  const stale: string[] = [];
  const w = new PeerStateWriter({
    stateDir: dir,
    types: new Map(),
    log: createSilentLogger(),
    delayMs: 0,
    due: () => (p.dirty ? [p] : []),
    current: () => true,
    onStale: (c) => stale.push(c),
  });
  t.teardown(() => w.close());
  w.schedule();
  await waitFor(() => fs.existsSync(peerFile(dir, 'cluster-y')), { timeoutMs: 5000, what: 'file written' });
  t.notOk(p.dirty);
  t.same(stale, []);
});

// Shutdown closes the writer while a background write may be under way, then saves synchronously; the process
// exits right after. settled() waits for that write, so no `<file>.tmp-<pid>` is left behind (the chaos test
// found one after a graceful stop).
t.test('settled() waits for the background write under way when the writer is closed', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-persist-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const p = new PeerPartition('cluster-z');
  p.dirty = true;
  // Wrapped: a promise resolved with a promise would adopt it, and this test must see settled() itself.
  let closed!: (s: { settled: Promise<void> }) => void;
  const closing = new Promise<{ settled: Promise<void> }>((resolve) => (closed = resolve));
  const w = new PeerStateWriter({
    stateDir: dir,
    types: new Map(),
    log: createSilentLogger(),
    delayMs: 0,
    due: () => {
      // Closed right after the write starts (a microtask runs after flush() has started it).
      queueMicrotask(() => {
        w.close();
        closed({ settled: w.settled() });
      });
      return p.dirty ? [p] : [];
    },
    current: () => true,
    onStale: () => undefined,
  });
  // settled() itself is what is waited for: what is on disk is read the moment it resolves. The writer's timer is
  // unref'd, so the test polls for that reading (waitFor's timers keep the process alive, bounded).
  let seen: { file: boolean; temps: string[] } | undefined;
  void closing.then(async (c) => {
    await c.settled;
    seen = {
      file: fs.existsSync(peerFile(dir, 'cluster-z')),
      temps: fs.readdirSync(path.join(dir, 'peers')).filter((f) => f.includes('.tmp-')),
    };
  });
  w.schedule();
  const after = await waitFor(() => seen, { timeoutMs: 5000, what: 'settled() after close()' });
  t.ok(after.file, 'the write under way finished');
  t.same(after.temps, [], 'no temp file left');
});
