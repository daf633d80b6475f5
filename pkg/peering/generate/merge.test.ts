import t from 'tap';
import { Merger, exportedServices } from './index';
import { validatePeerGateway } from '../core';
import type { MergeResult } from './index';
import { LocalRegistry } from '../../registry';
import { createSilentLogger } from '../../log';
import { systemClock } from '../../lifecycle';
import { generateLocal } from '../../translate';
import type { GatewayObj } from '../../model';
import { loadWire, TYPE_ADDRESS } from '../../wire';
import { Encoder, MapDeltas, emptyDelta, fullDelta } from '../../push';
import { AddressDeltas } from './address-deltas';
import type { TypeCommit } from '../../xds';

const gw = (o: Partial<GatewayObj>): GatewayObj => ({
  kind: 'Gateway',
  name: 'peer',
  namespace: 'istio-gateways',
  gatewayClassName: 'istio-remote',
  labels: { 'topology.istio.io/network': 'n1' },
  annotations: {},
  addresses: [{ type: 'IPAddress', value: '127.0.0.2' }],
  statusAddresses: [],
  listeners: [],
  ...o,
});

/** One namespace, no local services; peer declarations and FederatedServices made to order. */
function mergeWorld() {
  const reg = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  reg.replaceSource('test', [{ obj: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } } }]);
  const snapshot = reg.snapshot();
  const mesh = {
    clusterId: 'c0',
    network: 'n0',
    trustDomain: 'cluster.local',
    domainSuffix: 'cluster.local',
    rootNamespace: 'istio-system',
  };
  const local = generateLocal({ snapshot, mesh }).output;
  const decl = (c: string, network = `net-${c}`) => {
    const r = validatePeerGateway(
      gw({ name: `peer-${c}`, labels: { 'topology.istio.io/network': network, 'topology.istio.io/cluster': c } }),
      { localTrustDomain: 'cluster.local', peerIdentity: 'istio-system/istiod' },
    );
    if (!('key' in r)) throw new Error(r.reason);
    return r;
  };
  const fsOf = (name: string, capacity: number, sa = name) => ({
    name,
    namespace: 'shop',
    hostname: `${name}.shop.mesh.internal`,
    ports: [{ port: 80, targetPort: 8080 }],
    capacity,
    subjectAltNames: [`spiffe://cluster.local/ns/shop/sa/${sa}`],
    scope: 'global',
  });
  const base = {
    snapshot,
    mesh,
    local,
    exported: exportedServices(snapshot, mesh),
    suffix: 'mesh.internal',
    defaultTrafficDistribution: 'PreferNetwork',
  };
  const peer = (c: string, svcs: [string, number][]) => ({
    decl: decl(c),
    data: {
      services: new Map(svcs.map(([n, cap]) => [`shop/${n}`, fsOf(n, cap)])),
      workloads: new Map(),
      nodes: new Map(),
    },
    flat: false,
  });
  return { base, decl, fsOf, peer };
}

/**
 * What a consumer of merge results holds: `addresses` plus the split-horizon
 * workloads, which arrive only as changes (built, then dropped by the merger).
 */
class Held {
  readonly remote = new Map<string, object>();
  apply(r: MergeResult): Map<string, object> {
    for (const n of r.remote.removed) this.remote.delete(n);
    for (const [n, make] of r.remote.changed) this.remote.set(n, make());
    return this.all(r);
  }
  all(r: MergeResult): Map<string, object> {
    return new Map<string, object>([...r.addresses, ...this.remote]);
  }
}

/** A cache as name -> version (what ztunnels can get), after applying commits. */
function applyCommit(state: Map<string, string>, c: TypeCommit): Map<string, string> {
  for (const n of c.removes ?? []) state.delete(n);
  for (const u of c.upserts ?? []) state.set(u.name, u.version);
  return state;
}

const norm = (x: Map<string, object>) => JSON.stringify([...x].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
const SPLIT = (c: string, svc: string) =>
  `net-${c}/SplitHorizonWorkload/istio-gateways/peer-${c}/shop/${svc}.shop.mesh.internal`;

t.test('incremental merge equals a full merge of the same inputs', async (t) => {
  const { base, fsOf, peer } = mergeWorld();
  const p1 = peer('c1', [
    ['web', 4],
    ['cart', 2],
  ]);
  const p2 = peer('c2', [['web', 8]]);
  const m = new Merger();
  const held = new Held();
  held.apply(m.merge({ ...base, peers: [p1, p2] }, () => undefined));
  // c1's web crosses a bucket and its cart goes to 0; c2's web changes SANs.
  p1.data.services.set('shop/web', fsOf('web', 16));
  p1.data.services.set('shop/cart', fsOf('cart', 0));
  p2.data.services.set('shop/web', {
    ...fsOf('web', 8),
    subjectAltNames: ['spiffe://cluster.local/ns/shop/sa/web-v2'],
  });
  const inc = m.merge(
    { ...base, peers: [p1, p2] },
    () => undefined,
    new Map([
      ['c1', new Set(['shop/web', 'shop/cart'])],
      ['c2', new Set(['shop/web'])],
    ]),
  );
  t.ok(inc.changed, 'incremental');
  const got = held.apply(inc);
  t.equal(norm(got), norm(new Held().apply(new Merger().merge({ ...base, peers: [p1, p2] }, () => undefined))));
  // The encoder encodes messages as they are (no fromObject copy): they must be in protobufjs form.
  const { Address } = loadWire();
  for (const [k, msg] of got) t.equal(Address.verify(msg), null, `${k} is in protobufjs form`);
  t.same(
    [...inc.remote.changed.keys()].sort(),
    [SPLIT('c1', 'cart'), SPLIT('c1', 'web'), SPLIT('c2', 'web')],
    'exactly the three changed endpoints are built',
  );
  const web = got.get('shop/web.shop.mesh.internal') as { service: { subjectAltNames: string[] } };
  t.same(web.service.subjectAltNames, [
    'spiffe://cluster.local/ns/shop/sa/web',
    'spiffe://cluster.local/ns/shop/sa/web-v2',
  ]);
  const cart = got.get(SPLIT('c1', 'cart')) as { workload: { status?: number; capacity?: unknown } };
  t.equal(cart.workload.status, 1, 'capacity 0 -> UNHEALTHY');
  t.notOk(cart.workload.capacity);
  // A new global service forces a full re-plan (VIPs), still equal.
  p2.data.services.set('shop/new', fsOf('new', 1));
  const inc2 = m.merge({ ...base, peers: [p1, p2] }, () => undefined, new Map([['c2', new Set(['shop/new'])]]));
  t.equal(inc2.changed, undefined, 'full');
  t.same([...inc2.remote.changed.keys()], [SPLIT('c2', 'new')], 'a full merge builds only the new endpoint');
  t.equal(
    norm(held.apply(inc2)),
    norm(new Held().apply(new Merger().merge({ ...base, peers: [p1, p2] }, () => undefined))),
  );
});

t.test('split-horizon workloads are built when their inputs change and are not kept by the merger', async (t) => {
  const { base, decl, fsOf, peer } = mergeWorld();
  const p1 = peer('c1', [
    ['web', 4],
    ['cart', 2],
  ]);
  const p2 = peer('c2', [['web', 8]]);
  const m = new Merger();
  const r0 = m.merge({ ...base, peers: [p1, p2] }, () => undefined, undefined, { live: true });
  t.same([...r0.remote.changed.keys()].sort(), [SPLIT('c1', 'cart'), SPLIT('c1', 'web'), SPLIT('c2', 'web')]);
  t.notOk(
    [...r0.addresses.keys()].some((k) => k.includes('SplitHorizon')),
    'never in addresses',
  );
  const r1 = m.merge({ ...base, peers: [p1, p2] }, () => undefined, undefined, { live: true });
  t.same(
    [r1.remote.changed.size, r1.remote.removed.size],
    [0, 0],
    'a full merge of unchanged inputs builds and removes nothing',
  );
  // A peer's gateway moves: its endpoints are rebuilt under the same uids (uid does not carry the address).
  const moved = { ...p1, decl: { ...decl('c1'), address: { type: 'IPAddress' as const, value: '127.0.0.9' } } };
  const r2 = m.merge({ ...base, peers: [moved, p2] }, () => undefined, undefined, { live: true });
  t.same([...r2.remote.changed.keys()].sort(), [SPLIT('c1', 'cart'), SPLIT('c1', 'web')]);
  t.same([...r2.remote.removed], []);
  // The peer withdraws cart (incrementally): one removal, nothing built.
  moved.data.services.delete('shop/cart');
  const r3 = m.merge({ ...base, peers: [moved, p2] }, () => undefined, new Map([['c1', new Set(['shop/cart'])]]), {
    live: true,
  });
  t.same([...r3.remote.removed], [SPLIT('c1', 'cart')]);
  t.equal(r3.remote.changed.size, 0);
  // The peer goes flat (same network): its gateway endpoints are withdrawn; back to gateway mode, rebuilt.
  const r4 = m.merge({ ...base, peers: [{ ...moved, flat: true }, p2] }, () => undefined, undefined, { live: true });
  t.same([...r4.remote.removed], [SPLIT('c1', 'web')]);
  const r5 = m.merge({ ...base, peers: [moved, p2] }, () => undefined, undefined, { live: true });
  t.same([...r5.remote.changed.keys()], [SPLIT('c1', 'web')]);
  // A peer removed entirely: a full merge withdraws all its endpoints in one result.
  p2.data.services.set('shop/web', fsOf('web', 8));
  const r6 = m.merge({ ...base, peers: [moved] }, () => undefined, undefined, { live: true });
  t.same([...r6.remote.removed], [SPLIT('c2', 'web')]);
  // No peers and nothing exported: the layer clears the merger, which withdraws everything left.
  t.same([...m.clear().removed], [SPLIT('c1', 'web')]);
  t.same([...m.clear().removed], [], 'withdrawn once');
});

t.test(
  'a remote whose uid changes withdraws the old uid, which the memo derives from what it was built from',
  async (t) => {
    const { base, decl, peer } = mergeWorld();
    const p1 = peer('c1', [['web', 4]]);
    const m = new Merger();
    m.merge({ ...base, peers: [p1] }, () => undefined, undefined, { live: true });
    // The uid carries the peer's network: relabelling the peer's network renames its endpoint.
    const relabelled = { ...p1, decl: decl('c1', 'net-moved') };
    const r = m.merge({ ...base, peers: [relabelled] }, () => undefined, undefined, { live: true });
    const renamed = 'net-moved/SplitHorizonWorkload/istio-gateways/peer-c1/shop/web.shop.mesh.internal';
    t.same([...r.remote.removed], [SPLIT('c1', 'web')], 'the old uid is removed');
    t.same([...r.remote.changed.keys()], [renamed], 'the new one is built');
    t.same([...m.clear().removed], [renamed], 'and is the one a later withdrawal removes');
  },
);

t.test('merge results through a live Encoder commit what a full identity diff commits', async (t) => {
  const { base, fsOf, peer } = mergeWorld();
  const svcs: [string, number][] = ['web', 'cart', 'pay', 'auth'].map((n) => [n, 4]);
  const peers = ['c1', 'c2', 'c3'].map((c) => peer(c, svcs));
  const wire = loadWire();
  const types = new Map([[TYPE_ADDRESS, wire.Address]]);
  const live = new Encoder(wire, types);
  const liveDeltas = new AddressDeltas();
  const oracle = new Encoder(wire, types);
  const oracleDeltas = new MapDeltas(TYPE_ADDRESS);
  const m = new Merger();
  const held = new Held();
  let dirty = new Map<string, Set<string>>();
  const touch = (p: number, name: string, v: ReturnType<typeof fsOf> | undefined): void => {
    const key = `shop/${name}`;
    if (v) peers[p]!.data.services.set(key, v);
    else peers[p]!.data.services.delete(key);
    const c = peers[p]!.decl.cluster;
    (dirty.get(c) ?? dirty.set(c, new Set()).get(c)!).add(key);
  };
  const commit = (c: TypeCommit) =>
    JSON.stringify([(c.upserts ?? []).map((u) => `${u.name}@${u.version}`).sort(), [...(c.removes ?? [])].sort()]);
  const fresh = () => new Held().apply(new Merger().merge({ ...base, peers }, () => undefined));
  const step = (what: string, expectHint: boolean): void => {
    const r = m.merge({ ...base, peers }, () => undefined, dirty, { live: true });
    dirty = new Map();
    t.equal(r.changed !== undefined, expectHint, `${what}: ${expectHint ? 'incremental' : 'full'} merge`);
    const a = live.encode(liveDeltas.merged(r, false));
    // The oracle sees an independent copy of everything, and compares by identity.
    const all = held.apply(r);
    const b = oracle.encode(oracleDeltas.next(new Map(all), false));
    t.equal(commit(a), commit(b), `${what}: same upserts and removes`);
    t.equal(
      (a.upserts?.length ?? 0) + (a.removes?.length ?? 0) > 0,
      what !== 'nothing changed',
      `${what}: ${what === 'nothing changed' ? 'nothing' : 'something'} to commit`,
    );
    t.equal(norm(all), norm(fresh()), `${what}: same content as a fresh merge`);
  };
  step('initial', false);
  touch(0, 'web', fsOf('web', 8));
  step('bucket crossing', true);
  touch(1, 'cart', fsOf('cart', 0));
  touch(2, 'cart', fsOf('cart', 0));
  step('two peers to capacity 0', true);
  touch(1, 'pay', undefined);
  step('one peer withdraws a service others still export', true);
  touch(0, 'auth', fsOf('auth', 4, 'auth-v2'));
  step('SANs change the global service', true);
  touch(2, 'web', fsOf('web', 4));
  step('re-sent unchanged content', true);
  step('nothing changed', true);
  touch(0, 'new', fsOf('new', 2));
  step('a new global service re-plans VIPs', false);
  touch(0, 'web', fsOf('web', 16));
  step('incremental again after a full merge', true);

  // A build that threw after merging never reached the encoder: the daemon then asks for a reset merge.
  // Lost: c3's auth changed, c2's new service withdrawn. Then c1's cart changes.
  const cache = applyCommit(new Map(), live.encode(emptyDelta(TYPE_ADDRESS)));
  const everything = new Encoder(wire, types);
  // The layer's Address deltas emitted the committed state (split-horizon workloads come from Held here).
  const everythingDeltas = new AddressDeltas();
  const committed = m.merge({ ...base, peers }, () => undefined, new Map(), { live: true });
  everythingDeltas.merged(committed, true);
  applyCommit(cache, everything.encode(fullDelta(TYPE_ADDRESS, new Map(held.all(committed)))));
  touch(2, 'auth', fsOf('auth', 64));
  touch(0, 'new', undefined);
  m.merge({ ...base, peers }, () => undefined, dirty, { live: true }); // lost: never encoded
  dirty = new Map();
  touch(0, 'cart', fsOf('cart', 2));
  dirty = new Map();
  const rec = m.merge({ ...base, peers }, () => undefined, undefined, { live: true, reset: true });
  t.equal(rec.changed, undefined, 'recovery merge is full');
  t.ok(rec.remote.removed.has(SPLIT('c1', 'new')), 'the removal of the lost build is repeated');
  t.ok(rec.remote.changed.has(SPLIT('c3', 'auth')), 'the change of the lost build is rebuilt');
  const got = applyCommit(new Map(cache), everything.encode(everythingDeltas.merged(rec, true)));
  const want = new Map<string, string>();
  applyCommit(want, new Encoder(wire, types).encode(fullDelta(TYPE_ADDRESS, fresh())));
  t.same([...got].sort(), [...want].sort(), 'after the reset the cache holds exactly what a fresh merge yields');

  // A live result is the merger's own map: the next merge updates it in place.
  const r1 = m.merge({ ...base, peers }, () => undefined, new Map(), { live: true });
  touch(1, 'web', fsOf('web', 32));
  const r2 = m.merge({ ...base, peers }, () => undefined, dirty, { live: true });
  t.equal(r1.addresses, r2.addresses, 'live: one map, no per-push copy');
  t.same([...r2.remote.changed.keys()], [SPLIT('c2', 'web')], 'a bucket crossing builds exactly one workload');
  t.same([...r2.changed!], [], 'and changes no global service');
});

t.test('a reset repeats a lost clear', async (t) => {
  const { base, peer } = mergeWorld();
  const m = new Merger();
  m.merge({ ...base, peers: [peer('c1', [['web', 4]])] }, () => undefined);
  t.same([...m.clear().removed], [SPLIT('c1', 'web')]);
  // That result was lost; the next build is a reset and still has nothing to merge.
  t.same([...m.clear({ reset: true }).removed], [SPLIT('c1', 'web')], 'repeated');
  t.same([...m.clear().removed], [], 'confirmed: not repeated again');
});

t.test(
  "takeover: a flat peer's pods back the taken-over cluster.local name, like a network peer's endpoint",
  async (t) => {
    const { base, decl, fsOf } = mergeWorld();
    const pod = (name: string, ip: number[]) => ({
      name,
      namespace: 'shop',
      addresses: [Buffer.from(ip)],
      serviceAccount: 'web',
      ready: true,
      services: { 'shop/web': { ports: [{ servicePort: 80, targetPort: 8080 }] } },
    });
    const flatPeer = (takeover: number) => ({
      decl: decl('c1', 'n0'),
      flat: true,
      data: {
        services: new Map([['shop/web', { ...fsOf('web', 2), takeover }]]),
        workloads: new Map([['shop/web-0', pod('web-0', [10, 9, 0, 1])]]),
        nodes: new Map(),
      },
    });
    const netPeer = {
      decl: decl('c2'),
      flat: false,
      data: {
        services: new Map([['shop/web', { ...fsOf('web', 2), takeover: 1 }]]),
        workloads: new Map(),
        nodes: new Map(),
      },
    };
    const m = new Merger();
    const held = new Held();
    const all = held.apply(m.merge({ ...base, peers: [flatPeer(1), netPeer] }, () => undefined));
    const keys = (uid: string) =>
      Object.keys((all.get(uid) as { workload: { services: object } }).workload.services).sort();
    t.same(
      keys('c1//Pod/shop/web-0'),
      ['shop/web.shop.mesh.internal', 'shop/web.shop.svc.cluster.local'],
      'flat pod joins the taken-over service',
    );
    t.same(
      keys(SPLIT('c2', 'web')),
      ['shop/web.shop.mesh.internal', 'shop/web.shop.svc.cluster.local'],
      'network peer endpoint, same keys',
    );
    t.ok(all.get('shop/web.shop.svc.cluster.local'), 'the taken-over service exists');
    // Takeover explicitly off: the flat pod backs the global name only.
    const off = new Held().apply(new Merger().merge({ ...base, peers: [flatPeer(2)] }, () => undefined));
    t.same(Object.keys((off.get('c1//Pod/shop/web-0') as { workload: { services: object } }).workload.services), [
      'shop/web.shop.mesh.internal',
    ]);
  },
);

t.test(
  'peers sharing one FederatedService object: incremental merges equal full merges as copies diverge and rejoin',
  async (t) => {
    const { base, fsOf, peer } = mergeWorld();
    // StringPool.share hands every peer with equal content the same object; the merger summarises them as one.
    const shared = fsOf('web', 4);
    const peers = ['c1', 'c2', 'c3'].map((c) => peer(c, []));
    for (const p of peers) p.data.services.set('shop/web', shared);
    const m = new Merger();
    const held = new Held();
    held.apply(m.merge({ ...base, peers }, () => undefined));
    const steps: [number, object][] = [
      [
        1,
        {
          ...shared,
          ports: [{ port: 80, targetPort: 9090 }, { port: 81 }],
          subjectAltNames: ['spiffe://cluster.local/ns/shop/sa/v2'],
        },
      ],
      [0, { ...shared, ports: [{ port: 80, targetPort: 7070 }] }],
      [1, shared],
      [0, shared],
    ];
    for (const [k, fs] of steps) {
      peers[k]!.data.services.set('shop/web', fs as typeof shared);
      const inc = m.merge({ ...base, peers }, () => undefined, new Map([[`c${k + 1}`, new Set(['shop/web'])]]));
      t.ok(inc.changed, 'incremental');
      t.equal(
        norm(held.apply(inc)),
        norm(new Held().apply(new Merger().merge({ ...base, peers }, () => undefined))),
        `after c${k + 1} changed`,
      );
    }
  },
);
