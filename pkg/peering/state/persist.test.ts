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
