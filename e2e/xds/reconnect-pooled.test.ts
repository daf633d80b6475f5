import t from 'tap';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../pkg/wire';
import { startXdsFixture } from '../harness/xds-fixture';

/**
 * Reconnect requests large enough to span HTTP/2 DATA chunks are joined into pooled buffers
 * (pkg/transport/receive-pool.ts) that pkg/xds hands back when done. A stream keeps reading its
 * initial_resource_versions from those bytes until its first response (the exact match, when
 * the digest differs); concurrent reconnects must not see each other's bytes: each client gets
 * exactly the one resource it holds at a stale version, over several waves that reuse the buffers.
 */

const A = TYPE_ADDRESS;
const Z = TYPE_AUTHORIZATION;
const WORKLOADS = 1500; // ~100 kB of initial_resource_versions per reconnect: pooled, not one chunk
const CLIENTS = 6;
/** ~310 kB a reconnect: over the receive budget's 256 KiB threshold, so granted and filled as it arrives. */
const GRANTED = 4000;

t.test('concurrent large reconnects, each with its own stale entry, are each answered exactly', async (t) => {
  const f = await startXdsFixture();
  t.teardown(() => f.close());
  const uid = (i: number): string => `Kubernetes//Pod/default/workload-with-a-longer-name-${i}`;
  const ip = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  f.cache.commit([{ typeUrl: A, upserts: Array.from({ length: WORKLOADS }, (_, i) => f.workload(uid(i), ip(i))) }]);
  const clients = Array.from({ length: CLIENTS }, () => f.client());
  for (const c of clients) c.connect();
  for (const c of clients) {
    await c.until(
      () => c.received.some((r) => r.typeUrl === A) && c.received.some((r) => r.typeUrl === Z),
      'first sync',
    );
  }
  for (let wave = 0; wave < 3; wave++) {
    for (const c of clients) c.disconnect();
    await clients[0]!.until(() => f.xds.streamCount === 0, 'streams closed');
    // Client k holds workload (wave * CLIENTS + k) at a version the cache never had.
    clients.forEach((c, k) => (c.held(A).get(uid(wave * CLIENTS + k))!.version = `stale-${wave}-${k}`));
    const before = clients.map((c) => c.received.length);
    for (const c of clients) c.connect();
    for (const [k, c] of clients.entries()) {
      const r = await c.until(
        () => c.received.slice(before[k]).find((x) => x.typeUrl === A),
        `wave ${wave} client ${k} reconnect response`,
      );
      t.same(r.names, [uid(wave * CLIENTS + k)], `wave ${wave} client ${k}: only its stale entry is resent`);
      t.same(r.removed, [], 'nothing removed');
    }
  }
});

t.test('concurrent large reconnects holding the current state get nothing resent', async (t) => {
  const f = await startXdsFixture();
  t.teardown(() => f.close());
  const uid = (i: number): string => `Kubernetes//Pod/default/workload-with-a-longer-name-${i}`;
  const ip = (i: number, gen = 0): string => `10.${gen}.${(i >> 8) & 255}.${i & 255}`;
  f.cache.commit([{ typeUrl: A, upserts: Array.from({ length: GRANTED }, (_, i) => f.workload(uid(i), ip(i))) }]);
  const clients = Array.from({ length: CLIENTS }, () => f.client());
  for (const c of clients) c.connect();
  for (const c of clients) await c.until(() => c.held(A).size === GRANTED, 'first sync');
  for (let wave = 1; wave <= 3; wave++) {
    for (const c of clients) c.disconnect();
    await clients[0]!.until(() => f.xds.streamCount === 0, 'streams closed');
    const before = clients.map((c) => c.received.length);
    for (const c of clients) c.connect();
    await clients[0]!.until(() => f.xds.streamCount === CLIENTS, 'streams open');
    // A barrier, not a sleep: one workload changes after the reconnects; whether a stream matched its
    // initial versions before or after this commit, the only Address it may receive is this one.
    f.cache.commit([{ typeUrl: A, upserts: [f.workload(uid(wave), ip(wave, wave))] }]);
    for (const [k, c] of clients.entries()) {
      await c.until(
        () => c.received.slice(before[k]).some((x) => x.typeUrl === A && x.names.includes(uid(wave))),
        `wave ${wave} client ${k}: the change`,
      );
      const got = c.received.slice(before[k]).filter((x) => x.typeUrl === A);
      t.same(
        got.flatMap((x) => x.names),
        [uid(wave)],
        `wave ${wave} client ${k}: nothing of the ${GRANTED} current workloads resent`,
      );
      t.same(
        got.flatMap((x) => x.removed),
        [],
        'nothing removed',
      );
    }
  }
});
