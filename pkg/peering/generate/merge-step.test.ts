import t from 'tap';
import { LocalRegistry, type ChangeSet } from '../../registry';
import { createSilentLogger } from '../../log';
import { systemClock } from '../../lifecycle';
import { LocalGenerator } from '../../translate';
import type { GatewayObj } from '../../model';
import { loadWire, TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../wire';
import { Encoder } from '../../push';
import type { TypeCommit } from '../../xds';
import {
  MSG,
  PEERING_PROTO,
  TYPE_CLUSTER_INFO,
  TYPE_FEDERATED_SERVICE,
  TYPE_PEER_NODE,
  TYPE_PEER_WORKLOAD,
  validatePeerGateway,
} from '../core';
import { MergeStep } from './merge-step';
import type { PeerView } from './merge-types';

const mesh = {
  clusterId: 'c0',
  network: 'n0',
  trustDomain: 'cluster.local',
  domainSuffix: 'cluster.local',
  rootNamespace: 'istio-system',
};
const opts = { version: 'x', suffix: 'mesh.internal', defaultTrafficDistribution: 'PreferNetwork', now: () => 1 };

function objects(global: boolean, ip: string): Record<string, unknown>[] {
  const labels: Record<string, string> = { 'istio.io/dataplane-mode': 'ambient' };
  if (global) labels['solo.io/service-scope'] = 'global';
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels } },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'shop' },
      spec: { clusterIP: '10.96.0.1', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-0', namespace: 'shop', labels: { app: 'web' } },
      spec: { serviceAccountName: 'web' },
      status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
    },
  ];
}

function peer(c: string, capacity: number): PeerView {
  const gw: GatewayObj = {
    kind: 'Gateway',
    name: `peer-${c}`,
    namespace: 'istio-gateways',
    gatewayClassName: 'istio-remote',
    labels: { 'topology.istio.io/network': `net-${c}`, 'topology.istio.io/cluster': c },
    annotations: {},
    addresses: [{ type: 'IPAddress', value: '127.0.0.2' }],
    statusAddresses: [],
    listeners: [],
  };
  const decl = validatePeerGateway(gw, { localTrustDomain: 'cluster.local', peerIdentity: 'istio-system/istiod' });
  if (!('key' in decl)) throw new Error(decl.reason);
  const fs = {
    name: 'web',
    namespace: 'shop',
    hostname: 'web.shop.mesh.internal',
    ports: [{ port: 80, targetPort: 8080 }],
    capacity,
    subjectAltNames: ['spiffe://cluster.local/ns/shop/sa/web'],
    scope: 'global',
  };
  return { decl, data: { services: new Map([['shop/web', fs]]), workloads: new Map(), nodes: new Map() }, flat: false };
}

/** name -> version per type URL, after applying commits (removes first, as the cache applies a commit). */
function apply(state: Map<string, string>, commits: readonly TypeCommit[]): Map<string, string> {
  for (const c of commits) {
    for (const n of c.removes ?? []) state.delete(`${c.typeUrl} ${n}`);
    for (const u of c.upserts ?? []) state.set(`${c.typeUrl} ${u.name}`, u.version);
  }
  return state;
}

t.test("the peering generator's deltas keep the cache equal to a fresh full build across every shape", async (t) => {
  const wire = loadWire({ extraFiles: [PEERING_PROTO] });
  const types = new Map([
    [TYPE_ADDRESS, wire.Address],
    [TYPE_AUTHORIZATION, wire.Authorization],
    [TYPE_CLUSTER_INFO, wire.type(MSG.ClusterInfo)],
    [TYPE_FEDERATED_SERVICE, wire.type(MSG.FederatedService)],
    [TYPE_PEER_WORKLOAD, wire.type(MSG.PeerWorkload)],
    [TYPE_PEER_NODE, wire.type(MSG.PeerNode)],
  ]);
  const reg = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  let changes: ChangeSet | undefined;
  reg.onChange((c) => (changes = c));
  const local = new LocalGenerator();
  const step = new MergeStep(opts);
  const encoder = new Encoder(wire, types);
  const cache = new Map<string, string>();
  let first = true;
  const build = (
    what: string,
    o: { global: boolean; ip: string; peers: PeerView[]; dirty?: Map<string, Set<string>> },
    how: { full?: boolean; lost?: boolean } = {},
  ): void => {
    changes = undefined;
    reg.replaceSource(
      'test',
      objects(o.global, o.ip).map((obj) => ({ obj })),
    );
    const snapshot = reg.snapshot();
    const full = first || how.full === true;
    first = false;
    const l = local.generate({ snapshot, mesh, changes: changes ?? { byKind: new Map() } }, full);
    const out = step.build({ snapshot, mesh, local: l, full, peers: o.peers, dirty: o.dirty, onConflict: () => {} });
    if (how.lost) return; // the build threw after generating: nothing reached the cache
    const commits = out.deltas.map((d) => encoder.encode(d));
    apply(cache, commits);
    const freshLocal = new LocalGenerator().generate({ snapshot, mesh, changes: { byKind: new Map() } }, true);
    const fresh = new MergeStep(opts).build({
      snapshot,
      mesh,
      local: freshLocal,
      full: true,
      peers: o.peers,
      onConflict: () => {},
    });
    const want = apply(
      new Map(),
      fresh.deltas.map((d) => new Encoder(wire, types).encode(d)),
    );
    t.same([...cache].sort(), [...want].sort(), `${what}: the cache holds what a fresh full build yields`);
  };
  const p1 = peer('c1', 4);
  build('no peers, nothing exported (local passes through)', { global: false, ip: '10.1.0.1', peers: [] });
  t.ok(
    [...cache.keys()].some((k) => k.startsWith(TYPE_ADDRESS)),
    'local addresses are served',
  );
  build('a pod moves (passthrough delta)', { global: false, ip: '10.1.0.2', peers: [] });
  build('the namespace is exported (merged)', { global: true, ip: '10.1.0.2', peers: [] });
  build('a peer links', { global: true, ip: '10.1.0.2', peers: [p1] });
  const p1b = peer('c1', 8);
  p1b.decl = p1.decl;
  build('a bucket crossing (incremental merge)', {
    global: true,
    ip: '10.1.0.2',
    peers: [p1b],
    dirty: new Map([['c1', new Set(['shop/web'])]]),
  });
  build('a pod moves under a merge', { global: true, ip: '10.1.0.3', peers: [p1b], dirty: new Map() });
  build('a build is lost', { global: true, ip: '10.1.0.4', peers: [] }, { lost: true });
  build('the next build is full', { global: true, ip: '10.1.0.5', peers: [p1b] }, { full: true });
  build('the peer unlinks and nothing is exported (back to passthrough)', { global: false, ip: '10.1.0.5', peers: [] });
  build('a lost build in passthrough', { global: true, ip: '10.1.0.6', peers: [p1] }, { lost: true });
  build('then full in passthrough', { global: false, ip: '10.1.0.7', peers: [] }, { full: true });
});
