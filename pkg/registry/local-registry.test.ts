import t from 'tap';
import { systemClock } from '../lifecycle';
import { createSilentLogger } from '../log';
import type { Logger } from '../log';
import { identitiesOnNode, LocalRegistry } from './index';
import type { ChangeSet, RawObject } from './index';

function newRegistry(logger: Logger = createSilentLogger()): { reg: LocalRegistry; changes: ChangeSet[] } {
  const reg = new LocalRegistry({ logger, clock: systemClock });
  const changes: ChangeSet[] = [];
  reg.onChange((c) => changes.push(c));
  return { reg, changes };
}

const pod = (name: string, ip: unknown, extra: Record<string, unknown> = {}): RawObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', labels: { app: name } },
  spec: {
    nodeName: 'node-1',
    serviceAccountName: `sa-${name}`,
    containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }],
  },
  status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
  ...extra,
});

const svc = (name: string, port: unknown): RawObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec: { clusterIP: '10.96.0.10', selector: { app: name }, ports: [{ name: 'http', port, targetPort: 'http' }] },
});

t.test('normalises pods into compact objects', async (t) => {
  const { reg } = newRegistry();
  reg.replaceSource('s', [{ obj: pod('a', '10.0.0.1') }]);
  const p = reg.snapshot().pods.get('default/a');
  t.ok(p);
  t.same(p!.ips, ['10.0.0.1']);
  t.equal(p!.serviceAccount, 'sa-a');
  t.equal(p!.ready, true);
  t.same(p!.namedPorts, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
  t.ok(Object.isFrozen(p), 'model objects are frozen');
});

t.test('Service port out of range is rejected alone; last good version stays', async (t) => {
  const { reg, changes } = newRegistry();
  reg.replaceSource('s', [
    { obj: svc('web', 80), origin: 'f.yaml#0' },
    { obj: pod('a', '10.0.0.1'), origin: 'f.yaml#1' },
  ]);
  t.equal(changes.length, 1);
  reg.replaceSource('s', [
    { obj: svc('web', 70000), origin: 'f.yaml#0' },
    { obj: pod('a', '10.0.0.2'), origin: 'f.yaml#1' },
  ]);
  const s = reg.snapshot();
  t.equal(s.services.get('default/web')?.ports[0]?.port, 80, 'last good Service kept');
  t.same(s.pods.get('default/a')?.ips, ['10.0.0.2'], 'the other object still updated');
  t.equal(s.rejected.length, 1);
  t.match(s.rejected[0], {
    kind: 'Service',
    key: 'default/web',
    origin: 'f.yaml#0',
    reason: /spec\.ports\[0\]\.port: 70000 is out of range/,
  });
  t.same([...changes[1]!.byKind.keys()], ['Pod'], 'only the pod changed');
});

t.test('Pod with a malformed IP is rejected with a reason', async (t) => {
  const { reg } = newRegistry();
  reg.applyEvents('s', [{ type: 'upsert', obj: pod('bad', '10.0.0.300'), origin: 'x#2' }]);
  const s = reg.snapshot();
  t.equal(s.pods.size, 0);
  t.match(s.rejected, [
    { kind: 'Pod', key: 'default/bad', origin: 'x#2', reason: /status\.podIP: "10\.0\.0\.300" is not a valid IP/ },
  ]);
  // A later good version clears the rejection.
  reg.applyEvents('s', [{ type: 'upsert', obj: pod('bad', '10.0.0.3') }]);
  t.equal(reg.snapshot().rejected.length, 0);
  t.equal(reg.snapshot().pods.size, 1);
});

t.test('wrong types and missing names are rejected', async (t) => {
  const { reg } = newRegistry();
  reg.replaceSource('s', [
    { obj: { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'x' } }, origin: 'a#0' },
    { obj: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n', labels: { a: 1 } } }, origin: 'a#1' },
    { obj: { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: 'x' } }, origin: 'a#2' },
    { obj: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'Bad_Name' } }, origin: 'a#3' },
  ]);
  const reasons = reg.snapshot().rejected.map((r) => r.reason);
  t.match(reasons, [
    /metadata\.name: is required/,
    /metadata\.labels\.a: must be a string/,
    /spec\.ports: must be a list/,
    /not a valid object name/,
  ]);
});

t.test('unchanged re-ingest produces no ChangeSet', async (t) => {
  const { reg, changes } = newRegistry();
  const objs = [{ obj: pod('a', '10.0.0.1') }, { obj: svc('web', 80) }];
  reg.replaceSource('s', objs);
  const v = reg.snapshot().version;
  reg.replaceSource('s', structuredClone(objs));
  reg.applyEvents('s', [{ type: 'upsert', obj: pod('a', '10.0.0.1') }]);
  t.equal(changes.length, 1);
  t.equal(reg.snapshot().version, v, 'version unchanged');
  // Irrelevant fields (dropped by normalisation) do not count as a change either.
  reg.applyEvents('s', [
    {
      type: 'upsert',
      obj: pod('a', '10.0.0.1', {
        metadata: { name: 'a', namespace: 'default', labels: { app: 'a' }, resourceVersion: '99' },
      }),
    },
  ]);
  t.equal(changes.length, 1);
});

t.test('unknown kinds are skipped with one warning per kind', async (t) => {
  const lines: string[] = [];
  const pino = (await import('pino')).default;
  const logger = pino({ level: 'warn' }, { write: (s: string) => lines.push(s) });
  const { reg } = newRegistry(logger);
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } };
  const istioGw = { apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'g' } };
  reg.replaceSource('s', [{ obj: cm }, { obj: cm }, { obj: istioGw }]);
  reg.applyEvents('s', [{ type: 'upsert', obj: cm }]);
  const warns = lines.map((l) => JSON.parse(l)).filter((l) => /unsupported kind/.test(l.msg));
  t.same(warns.map((w) => w.kind).sort(), ['ConfigMap', 'networking.istio.io/Gateway']);
});

t.test('replaceSource deletes what the source no longer owns; other sources unaffected', async (t) => {
  const { reg, changes } = newRegistry();
  reg.replaceSource('a', [{ obj: pod('p1', '10.0.0.1') }, { obj: pod('p2', '10.0.0.2') }]);
  reg.replaceSource('b', [{ obj: pod('p3', '10.0.0.3') }]);
  reg.replaceSource('a', [{ obj: pod('p1', '10.0.0.1') }]);
  t.same([...reg.snapshot().pods.keys()].sort(), ['default/p1', 'default/p3']);
  t.same([...changes.at(-1)!.byKind.get('Pod')!], ['default/p2']);
  reg.applyEvents('b', [{ type: 'delete', obj: pod('p3', '') }]);
  t.same([...reg.snapshot().pods.keys()], ['default/p1']);
});

t.test(
  'two sources with the same object: the first by id wins whatever the write order; a conflict is reported',
  async (t) => {
    const { reg } = newRegistry();
    reg.replaceSource('b', [{ obj: pod('p', '10.0.0.2') }]);
    reg.replaceSource('a', [{ obj: pod('p', '10.0.0.1') }]);
    t.same(reg.snapshot().pods.get('default/p')?.ips, ['10.0.0.1'], 'a sorts first: it wins although b wrote first');
    reg.replaceSource('b', [{ obj: pod('p', '10.0.0.3') }]);
    t.same(reg.snapshot().pods.get('default/p')?.ips, ['10.0.0.1'], 'a later write by b does not take over');
    t.match(reg.snapshot().rejected, [
      { kind: 'Pod', key: 'default/p', origin: 'b', reason: /duplicate: also supplied by b; a wins/ },
    ]);
    reg.removeSource('a');
    t.same(reg.snapshot().pods.get('default/p')?.ips, ['10.0.0.3'], 'withdrawal falls back to the other copy');
    t.same(reg.snapshot().rejected, [], 'conflict resolved');
  },
);

t.test('the same object twice in one source: the first document wins, the second is rejected', async (t) => {
  const { reg } = newRegistry();
  reg.replaceSource('a', [
    { obj: pod('p', '10.0.0.1'), origin: 'f#0' },
    { obj: pod('p', '10.0.0.2'), origin: 'f#1' },
  ]);
  t.same(reg.snapshot().pods.get('default/p')?.ips, ['10.0.0.1']);
  t.match(reg.snapshot().rejected, [{ kind: 'Pod', key: 'default/p', origin: 'f#1', reason: /same source: f#0 wins/ }]);
});

t.test('snapshots are immutable and share structure', async (t) => {
  const { reg } = newRegistry();
  reg.replaceSource(
    's',
    Array.from({ length: 500 }, (_, i) => ({ obj: pod(`p${i}`, `10.0.${i >> 8}.${i & 255}`) })),
  );
  const s1 = reg.snapshot();
  t.equal(reg.snapshot(), s1, 'cached while nothing changes');
  reg.applyEvents('s', [{ type: 'upsert', obj: pod('p0', '10.9.9.9') }]);
  const s2 = reg.snapshot();
  t.not(s2, s1);
  t.same(s1.pods.get('default/p0')?.ips, ['10.0.0.0'], 'old snapshot unchanged');
  t.same(s2.pods.get('default/p0')?.ips, ['10.9.9.9']);
  t.equal(s1.pods.size, 500);
  t.equal(s2.pods.size, 500);
  t.equal(s2.services, s1.services, 'untouched kinds are the same object');
  t.equal(s2.pods.get('default/p7'), s1.pods.get('default/p7'), 'untouched objects shared');
  t.equal([...s2.pods.values()].length, 500);
});

t.test('isLoaded waits for every registered source', async (t) => {
  const { reg } = newRegistry();
  t.ok(reg.isLoaded());
  reg.registerSource('k8s');
  reg.registerSource('files');
  t.notOk(reg.isLoaded());
  reg.markLoaded('files');
  t.notOk(reg.isLoaded());
  reg.markLoaded('k8s');
  t.ok(reg.isLoaded());
});

t.test('identitiesOnNode lists SPIFFE ids of pods on the node', async (t) => {
  const { reg } = newRegistry();
  reg.replaceSource('s', [
    { obj: pod('a', '10.0.0.1') },
    { obj: pod('b', '10.0.0.2', { spec: { nodeName: 'node-2', serviceAccountName: 'other' } }) },
  ]);
  t.same([...identitiesOnNode(reg.snapshot(), 'node-1', 'example.org')], ['spiffe://example.org/ns/default/sa/sa-a']);
  t.same([...identitiesOnNode(reg.snapshot(), 'node-3', 'example.org')], []);
});

t.test('kinds normalise the peering-relevant fields', async (t) => {
  const { reg } = newRegistry();
  reg.replaceSource('s', [
    {
      obj: {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'Gateway',
        metadata: {
          name: 'istio-eastwest',
          namespace: 'istio-gateways',
          generation: 7,
          labels: { 'topology.istio.io/network': 'net1' },
          annotations: {
            'peering.solo.io/data-plane-service-type': 'nodeport',
            'kubectl.kubernetes.io/last-applied-configuration': '{}',
          },
        },
        spec: {
          gatewayClassName: 'istio-eastwest',
          addresses: [{ value: '192.0.2.1' }],
          listeners: [{ name: 'cross-network', port: 15008, protocol: 'HBONE' }],
        },
      },
    },
    {
      obj: {
        apiVersion: 'security.istio.io/v1',
        kind: 'PeerAuthentication',
        metadata: { name: 'default', namespace: 'istio-system' },
        spec: { mtls: { mode: 'STRICT' }, portLevelMtls: { '8080': { mode: 'PERMISSIVE' } } },
      },
    },
    {
      obj: {
        apiVersion: 'security.istio.io/v1',
        kind: 'PeerAuthentication',
        metadata: { name: 'bad' },
        spec: { mtls: { mode: 'ON' } },
      },
    },
  ]);
  const s = reg.snapshot();
  t.same(s.gateways.get('istio-gateways/istio-eastwest'), {
    kind: 'Gateway',
    name: 'istio-eastwest',
    namespace: 'istio-gateways',
    gatewayClassName: 'istio-eastwest',
    labels: { 'topology.istio.io/network': 'net1' },
    annotations: { 'peering.solo.io/data-plane-service-type': 'nodeport' },
    addresses: [{ type: 'IPAddress', value: '192.0.2.1' }],
    statusAddresses: [],
    listeners: [{ name: 'cross-network', port: 15008, protocol: 'HBONE' }],
    generation: 7,
  });
  t.equal(s.peerAuthentications.get('istio-system/default')?.mode, 'STRICT');
  t.match(s.rejected, [{ kind: 'PeerAuthentication', key: 'default/bad', reason: /"ON" is not one of/ }]);
});

t.test('pods-by-namespace index follows adds and deletes, copy-on-write per snapshot', async (t) => {
  const { reg } = newRegistry();
  const inNs = (name: string, ns: string, ip: string): RawObject => {
    const p = pod(name, ip);
    (p['metadata'] as Record<string, unknown>)['namespace'] = ns;
    return p;
  };
  reg.replaceSource('s', [
    { obj: inNs('a', 'x', '10.0.0.1') },
    { obj: inNs('b', 'x', '10.0.0.2') },
    { obj: inNs('c', 'y', '10.0.0.3') },
  ]);
  const s1 = reg.snapshot();
  t.same([...s1.podsByNamespace!.get('x')!].sort(), ['x/a', 'x/b']);
  reg.applyEvents('s', [
    { type: 'delete', obj: inNs('a', 'x', '') },
    { type: 'upsert', obj: inNs('d', 'z', '10.0.0.4') },
  ]);
  reg.applyEvents('s', [{ type: 'upsert', obj: inNs('b', 'x', '10.0.0.9') }]);
  const s2 = reg.snapshot();
  t.same([...s2.podsByNamespace!.get('x')!], ['x/b']);
  t.same([...s2.podsByNamespace!.get('z')!], ['z/d']);
  t.same([...s1.podsByNamespace!.get('x')!].sort(), ['x/a', 'x/b'], 'older snapshot untouched');
  t.equal(s1.podsByNamespace!.has('z'), false);
  t.equal(s2.podsByNamespace!.get('y'), s1.podsByNamespace!.get('y'), 'unchanged namespaces shared');
  reg.applyEvents('s', [{ type: 'delete', obj: inNs('c', 'y', '') }]);
  t.equal(reg.snapshot().podsByNamespace!.has('y'), false, 'empty namespace dropped');
});
