import { createHash } from 'node:crypto';
import t from 'tap';
import { contentVersion, TYPE_ADDRESS } from '../../pkg/wire';
import { entryFromBytes } from '../../pkg/xds';
import { startXdsFixture } from '../harness/xds-fixture';

/**
 * A resource's version is the SHA-256 prefix of its message bytes and its name (pkg/wire/resource-encoder.ts
 * putContentVersion); before, it covered the message bytes alone. A ztunnel that reconnects after the daemon's
 * upgrade lists versions of the old format: it is sent every resource once, and from then on lists the versions
 * it was sent, which match — nothing resent on any later reconnect (no resend loop).
 */

const A = TYPE_ADDRESS;
const WORKLOADS = 2000;

t.test('old-format versions are resent exactly once; the versions then held are current', async (t) => {
  const f = await startXdsFixture();
  t.teardown(() => f.close());
  const uid = (i: number): string => `Kubernetes//Pod/default/workload-${i}`;
  const body = (i: number): Buffer =>
    Buffer.from(
      f.wire.Address.encode({
        workload: {
          uid: uid(i),
          name: `workload-${i}`,
          namespace: 'default',
          addresses: [Buffer.from([10, 0, 0, i & 255])],
        },
      }).finish(),
    );
  f.cache.commit([
    { typeUrl: A, upserts: Array.from({ length: WORKLOADS }, (_, i) => entryFromBytes(A, uid(i), body(i))) },
  ]);
  const c = f.client();
  c.connect();
  await c.until(() => c.held(A).size === WORKLOADS, 'first sync');
  t.equal(c.held(A).get(uid(7))!.version, contentVersion(uid(7), body(7)), 'the version covers name and body');

  const reconnect = async (what: string): Promise<string[]> => {
    c.disconnect();
    await c.until(() => f.xds.streamCount === 0, 'stream closed');
    const before = c.received.length;
    c.connect();
    const r = await c.until(() => c.received.slice(before).find((x) => x.typeUrl === A), what);
    t.same(r.removed, [], `${what}: nothing removed`);
    return r.names;
  };

  // As held before the upgrade: the first 16 hex digits of the SHA-256 of the message bytes alone.
  for (let i = 0; i < WORKLOADS; i++) {
    c.held(A).get(uid(i))!.version = createHash('sha256').update(body(i)).digest('hex').slice(0, 16);
  }
  const resent = await reconnect('reconnect with old-format versions');
  t.equal(resent.length, WORKLOADS, 'every resource resent');
  t.equal(new Set(resent).size, WORKLOADS, 'each once');
  for (let wave = 1; wave <= 2; wave++) {
    t.same(await reconnect(`reconnect ${wave} with the versions sent`), [], `reconnect ${wave}: nothing resent`);
  }
});
