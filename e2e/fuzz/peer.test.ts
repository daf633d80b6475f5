import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  PeerPartition,
  peeringTypes,
  validateImported,
  TYPE_CLUSTER_INFO,
  TYPE_FEDERATED_SERVICE,
  TYPE_PEER_WORKLOAD,
  TYPE_PEER_NODE,
} from '../../pkg/peering';
import { entryFromBytes } from '../../pkg/xds';
import { makePki, leafFrom, peeringWire, startCluster, remote, held, until } from '../peering/harness';
import { startFakePeer } from '../peering/fake-peer';
import { Rng, mutateBytes, Outcomes, heapBound, CASE_BOUND_MS } from './mutate';

const SEED = 0x9ee7;
const CASES = 10_000;
const NET_BATCHES = 10;
const PER_BATCH = 20;
const wire = peeringWire();
const types = peeringTypes(wire);
const DECODE = { longs: Number, enums: Number, bytes: Buffer, defaults: false } as const;
const EXPECT = { cluster: 'cluster-f' };

const fsMsg = (name: string): Record<string, unknown> => ({
  name,
  namespace: 'shop',
  hostname: `${name}.shop.mesh.internal`,
  ports: [{ port: 80, targetPort: 8080, name: 'http', appProtocol: 'http' }],
  subjectAltNames: ['spiffe://cluster.local/ns/shop/sa/web'],
  capacity: 4,
  scope: 'global',
  trafficDistribution: 'PreferNetwork',
});
const SEEDS: Record<string, (n: string) => [string, Record<string, unknown>]> = {
  [TYPE_CLUSTER_INFO]: () => [
    'cluster',
    { clusterId: 'cluster-f', network: 'net-f', trustDomain: 'cluster.local', softwareVersion: '1' },
  ],
  [TYPE_FEDERATED_SERVICE]: (n) => [`shop/${n}`, fsMsg(n)],
  [TYPE_PEER_WORKLOAD]: (n) => [
    `shop/${n}`,
    {
      name: n,
      namespace: 'shop',
      addresses: [Buffer.from([10, 9, 0, 1])],
      services: { 'shop/web': { ports: [{ servicePort: 80, targetPort: 8080 }] } },
      ready: true,
      serviceAccount: 'web',
    },
  ],
  [TYPE_PEER_NODE]: (n) => [n, { name: n, addresses: [Buffer.from([10, 8, 0, 1])], hboneNodePort: 31008 }],
};
const encode = (typeUrl: string, o: Record<string, unknown>): Buffer => {
  const ty = types.get(typeUrl)!;
  return Buffer.from(ty.encode(ty.fromObject(o)).finish());
};

/** The importer's decision for one resource: decode, then edge validation. Returns a reason or the decoded message. */
function verdict(
  typeUrl: string,
  name: string,
  bytes: Uint8Array,
): { reason: string } | { msg: Record<string, unknown> } {
  const ty = types.get(typeUrl)!;
  let msg: Record<string, unknown>;
  try {
    msg = ty.toObject(ty.decode(bytes), DECODE);
  } catch (e) {
    return { reason: `decode: ${(e as Error).message}` };
  }
  const why = validateImported(typeUrl, name, msg, EXPECT);
  return why ? { reason: why } : { msg };
}

t.test(
  `peer resources in-process: ${CASES} mutated ClusterInfo/FederatedService/PeerWorkload/PeerNode, seed ${SEED}`,
  async (t) => {
    t.comment(`fuzz seed ${SEED}`);
    const rng = new Rng(SEED);
    const out = new Outcomes();
    const bad: string[] = [];
    const part = new PeerPartition('cluster-f');
    const typeUrls = Object.keys(SEEDS);
    const corpus = typeUrls.map((u) => encode(u, SEEDS[u]!('web')[1]));
    for (const u of typeUrls)
      t.ok(
        'msg' in verdict(u, SEEDS[u]!('web')[0], encode(u, SEEDS[u]!('web')[1])),
        `valid ${u.split('.').pop()} accepted`,
      );
    const heap0 = process.memoryUsage().heapUsed;
    let version = 0;
    for (let i = 0; i < CASES; i++) {
      const typeUrl = rng.pick(typeUrls);
      // One response's worth of items: each is judged alone (item-by-item rejection).
      const items = 1 + rng.int(4);
      const t0 = performance.now();
      for (let j = 0; j < items; j++) {
        const [name, obj] = SEEDS[typeUrl]!(`s${rng.int(50)}`);
        const valid = encode(typeUrl, obj);
        const bytes = rng.chance(0.85) ? mutateBytes(rng, valid, corpus) : valid;
        try {
          const renamed = rng.chance(0.05);
          const v = verdict(typeUrl, renamed ? `${name}x` : name, bytes);
          if ('reason' in v) {
            if (!v.reason) bad.push(`case ${i}: rejection without a reason`);
            out.add(
              `reject:${v.reason
                .replace(/(["\d/]| does not match| is not)[\s\S]*$/, '')
                .trim()
                .slice(0, 40)}`,
            );
            if (bytes.equals(valid) && !renamed) bad.push(`case ${i}: unmutated valid item rejected: ${v.reason}`);
          } else {
            part.apply(typeUrl, name, String(++version), v.msg);
            out.add('accepted');
          }
        } catch (e) {
          bad.push(`case ${i}: threw ${(e as Error).message}`);
        }
      }
      out.time(`case ${i}`, performance.now() - t0);
    }
    const heap1 = process.memoryUsage().heapUsed;
    t.comment(
      `outcomes: ${out.summary().slice(0, 1500)}; ` +
        `slowest ${out.maxCaseMs.toFixed(1)} ms; ` +
        `heap ${(heap0 / 1e6).toFixed(0)} -> ${(heap1 / 1e6).toFixed(0)} MB`,
    );
    t.same(bad.slice(0, 20), [], 'no throw; every rejection has a reason; valid items are never rejected');
    t.ok(out.counts.size >= 6, 'several distinct rejection reasons');
    t.ok(out.maxCaseMs < CASE_BOUND_MS, 'no case hung');
    t.ok(heap1 < heapBound(heap0), 'heap bounded');
    // Whatever was accepted must persist and restore: the daemon re-validates peer state files on start.
    const restored = PeerPartition.deserialise(part.serialise(types), types, (u, n, m) =>
      validateImported(u, n, m, EXPECT),
    );
    t.same(
      [...restored.services.keys()].sort(),
      [...part.services.keys()].sort(),
      'accepted FederatedServices restore',
    );
    t.same([...restored.workloads.keys()].sort(), [...part.workloads.keys()].sort(), 'accepted PeerWorkloads restore');
    t.same([...restored.nodes.keys()].sort(), [...part.nodes.keys()].sort(), 'accepted PeerNodes restore');
    t.equal(restored.clusterInfo?.clusterId, part.clusterInfo?.clusterId, 'ClusterInfo restores');
  },
);

t.test(
  `peer resources over a real peering stream: ${NET_BATCHES * PER_BATCH} ` +
    `mutated FederatedServices to a live daemon, seed ${SEED + 1}`,
  async (t) => {
    const pki = makePki(['cluster-a', 'cluster-f']);
    t.teardown(() => pki.cleanup());
    const leaf = leafFrom(pki.dir, 'cluster-f', 'fake', [
      'URI:spiffe://cluster.local/ns/istio-system/sa/istiod',
      'IP:127.0.0.1',
    ]);
    const fake = await startFakePeer({
      ...leaf,
      trustBundlePem: fs.readFileSync(path.join(pki.dir, 'root-cert.pem'), 'utf8'),
    });
    t.teardown(() => fake.close());
    fake.put(TYPE_CLUSTER_INFO, { cluster: SEEDS[TYPE_CLUSTER_INFO]!('')[1] });
    const a = await startCluster({
      name: 'cluster-a',
      network: 'net-a',
      pki: pki.dir,
      files: { 'peer.yaml': remote({ cluster: 'cluster-f', network: 'net-f', port: fake.port }) },
    });
    t.teardown(() => a.close());
    const z = a.ztunnel();
    z.connect();
    const split = (s: string): string =>
      `net-f/SplitHorizonWorkload/istio-gateways/istio-remote-peer-cluster-f/shop/${s}.shop.mesh.internal`;
    const rng = new Rng(SEED + 1);
    const expected = new Set<string>();
    const rejected = new Set<string>();
    const corpus = [encode(TYPE_FEDERATED_SERVICE, fsMsg('web'))];
    for (let b = 0; b < NET_BATCHES; b++) {
      const upserts = [];
      for (let j = 0; j < PER_BATCH; j++) {
        // Every name is used once, so the expected outcome per name is just the importer's verdict on its bytes.
        const n = `f${b}-${j}`;
        const bytes = mutateBytes(rng, encode(TYPE_FEDERATED_SERVICE, fsMsg(n)), corpus);
        const v = verdict(TYPE_FEDERATED_SERVICE, `shop/${n}`, bytes);
        if ('msg' in v) expected.add(n);
        else rejected.add(n);
        upserts.push(entryFromBytes(TYPE_FEDERATED_SERVICE, `shop/${n}`, bytes));
      }
      // A valid sentinel last: once it is imported, the whole batch has been judged.
      const sentinel = `sentinel-${b}`;
      upserts.push(
        entryFromBytes(TYPE_FEDERATED_SERVICE, `shop/${sentinel}`, encode(TYPE_FEDERATED_SERVICE, fsMsg(sentinel))),
      );
      expected.add(sentinel);
      fake.cache.commit([{ typeUrl: TYPE_FEDERATED_SERVICE, upserts }], { at: performance.now() });
      await until(`batch ${b} imported`, () => held(z, split(sentinel)), 30_000);
    }
    t.comment(`fuzz seed ${SEED + 1}: ${expected.size} accepted, ${rejected.size} rejected by the in-process verdict`);
    t.ok(rejected.size > 0 && expected.size > NET_BATCHES, 'both outcomes occur');
    await until('imports settle', () => [...expected].every((n) => held(z, split(n))), 30_000).catch(() => undefined);
    t.same(
      [...expected].filter((n) => !held(z, split(n))),
      [],
      'every item the importer accepts reaches the ztunnel',
    );
    t.same(
      [...rejected].filter((n) => held(z, split(n))),
      [],
      'no rejected item reaches the ztunnel',
    );
    t.ok(fake.nacks.length > 0, 'bad items were NACKed');
    t.ok(
      fake.nacks.every((x) => x.message.length > 0),
      'every NACK carries reasons',
    );
    t.equal(a.cond('cluster-f', 'Connected'), 'True', 'peer link still up after the fuzz');
  },
);
