/**
 * The daemon against a real kube-apiserver + etcd (set-up: daemon-fixture.ts), peering side: an
 * istio-remote Gateway gets peer conditions written back through the status subresource by the Lease
 * holder, at the Gateway's generation; `ambientd expose` / `link` output applies to the API server.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { parse as fromYaml } from 'yaml';
import { exposeCommand, linkCommand } from '../../cmd/ambientd/link-cmd';
import { waitFor } from '../../pkg/lifecycle';
import { freePort } from './harness';
import * as k from './objects';
import { admin, daemon, dir, type Obj, skip, useKubeDaemon, WAIT } from './daemon-fixture';

useKubeDaemon();

t.test('istio-remote Gateway: peer conditions written back through the status subresource', { skip }, async (t) => {
  const closed = await freePort();
  const gw = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: {
      name: 'istio-remote-peer-c2',
      namespace: 'istio-gateways',
      labels: { 'topology.istio.io/network': 'net2', 'topology.istio.io/cluster': 'c2' },
      annotations: {
        'gateway.istio.io/service-account': 'istio-eastwest',
        'gateway.istio.io/trust-domain': 'cluster.local',
      },
    },
    spec: {
      gatewayClassName: 'istio-remote',
      addresses: [{ type: 'IPAddress', value: '127.0.0.1' }],
      listeners: [
        { name: 'cross-network', port: 15008, protocol: 'HBONE', tls: { mode: 'Passthrough' } },
        { name: 'xds-tls', port: closed, protocol: 'TLS', tls: { mode: 'Passthrough' } },
      ],
    },
  };
  const applied = await k.apply(admin, gw);
  const generation = (applied.metadata as { generation: number }).generation;
  type Cond = { type: string; status: string; reason: string; message: string; observedGeneration?: number };
  const read = async () =>
    admin.json<{ metadata: { generation: number }; status?: { conditions?: Cond[] } }>('GET', k.objectPath(gw));
  let live = await read();
  const cond = (type: string) => live.status?.conditions?.find((c) => c.type === type);
  await waitFor(
    async () => {
      live = await read();
      return (
        cond('Connected')?.status === 'False' &&
        cond('Synced') &&
        cond('DataPlaneProgrammed') &&
        cond('Connected')?.observedGeneration === live.metadata.generation
      );
    },
    { ...WAIT, intervalMs: 200, what: 'peer conditions on the Gateway status' },
  ).catch((e: unknown) => {
    t.comment(JSON.stringify({ live, peers: daemon.peering?.status() }));
    throw e;
  });
  t.equal(live.metadata.generation, generation, 'spec untouched by the daemon');
  t.equal(cond('Connected')!.status, 'False', 'nothing listens on the xds-tls port');
  t.not(cond('Synced')!.status, 'True', 'never synced');
  t.ok(cond('DataPlaneProgrammed'), 'DataPlaneProgrammed present');
  for (const c of live.status!.conditions!) {
    t.equal(c.observedGeneration, generation, `${c.type}: observedGeneration = the Gateway's generation`);
    t.ok(c.reason && c.message, `${c.type}: reason and message set`);
  }
  t.comment(JSON.stringify(live.status!.conditions!.map((c) => `${c.type}=${c.status} ${c.reason}: ${c.message}`)));
  const lease = await admin.json<{ spec: { holderIdentity?: string } }>(
    'GET',
    '/apis/coordination.k8s.io/v1/namespaces/istio-system/leases/ambientd-peer-status',
  );
  t.ok(lease.spec.holderIdentity, 'written by the Lease holder');
});

// Regression: the Gateway's metadata.generation is part of the peer status the writer fingerprints, so a
// spec bump that leaves the peer state alone re-stamps observedGeneration promptly (not at the 60 s resync).

t.test(
  'istio-remote Gateway: a spec change that leaves the peer state alone still moves observedGeneration',
  { skip },
  async (t) => {
    const path = '/apis/gateway.networking.k8s.io/v1/namespaces/istio-gateways/gateways/istio-remote-peer-c2';
    type G = {
      metadata: { generation: number };
      spec: Obj;
      status?: { conditions?: { type: string; observedGeneration?: number }[] };
    };
    const before = await admin.json<G>('GET', path);
    t.ok(before.status?.conditions?.length, 'conditions written earlier');
    // A field the peering layer does not read (it uses addresses, the two listener ports, labels and annotations).
    const bumped = await admin.json<G>('PATCH', path, {
      body: {
        spec: {
          listeners: (before.spec.listeners as Obj[]).map((l) => ({
            ...l,
            allowedRoutes: { namespaces: { from: 'Same' } },
          })),
        },
      },
      contentType: 'application/merge-patch+json',
    });
    t.equal(bumped.metadata.generation, before.metadata.generation + 1, 'spec change bumped the generation');
    // The peer status is polled every second; a generation-aware writer re-stamps within about a second.
    const followed = await waitFor(
      async () =>
        (await admin.json<G>('GET', path)).status?.conditions?.every(
          (c) => c.observedGeneration === bumped.metadata.generation,
        ),
      { timeoutMs: 5_000, intervalMs: 200, what: 'observedGeneration follows the spec change' },
    ).then(
      () => true,
      () => false,
    );
    t.ok(followed, 'conditions re-stamped with the new generation');
  },
);

t.test('ambientd expose / link YAML applies to the API server and declares a peer there', { skip }, async (t) => {
  // expose in Kubernetes mode: no address yet (the LoadBalancer assigns it); link --from that file with --address.
  const out: string[] = [];
  const io = { out: { write: (s: string) => out.push(s) } as unknown as NodeJS.WritableStream, err: process.stderr };
  const peerCfg = { ...daemon.cfg, clusterId: 'c3', network: 'net3' };
  t.equal(exposeCommand(peerCfg, { namespace: 'istio-gateways', name: 'eastwest-c3' }, io), 0);
  const ew = fromYaml(out.join('')) as Obj;
  t.notOk((ew.spec as Obj).addresses, 'no address before the LoadBalancer has one');
  await k.apply(admin, ew);
  const file = path.join(dir, 'c3-eastwest.yaml');
  fs.writeFileSync(file, out.join(''));
  out.length = 0;
  t.equal(await linkCommand(daemon.cfg, { from: file, address: '127.0.0.1' }, io), 0);
  const remote = fromYaml(out.join('')) as Obj;
  t.equal((remote.metadata as Obj).name, 'istio-remote-peer-c3');
  await k.apply(admin, remote);
  // The daemon (in Kubernetes mode) picks it up from the API server and reports the peer.
  const declared = (): boolean =>
    ((daemon.peering?.status() as { gateway: string }[] | undefined) ?? []).some(
      (p) => p.gateway === 'istio-gateways/istio-remote-peer-c3',
    );
  await waitFor(declared, { ...WAIT, what: 'peer declared through the API server' });
  await admin.json('DELETE', k.objectPath(remote));
  await admin.json('DELETE', k.objectPath(ew));
});
