import t from 'tap';
import { systemClock } from '../lifecycle';
import { createSilentLogger } from '../log';
import { LocalRegistry } from '../registry';
import type { ChangeSet, RawObject } from '../registry';
import { generateLocal, msgEqual, workloadUidForPod } from './index';
import type { LocalOutput, WorkloadMsg } from './index';
import { DEFAULT_MESH as mesh } from './testing/util';

const pod = (name: string, labels: Record<string, string>, ip: string, ns = 'a'): RawObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels },
  spec: { serviceAccountName: 'sa', containers: [{ name: 'c', ports: [{ containerPort: 8080 }] }] },
  status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
});

const service = (name: string, selector: Record<string, string>, ns = 'a', targetPort: number | string = 8080) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: ns },
  spec: { clusterIP: `172.16.0.${name.length}`, selector, ports: [{ name: 'http', port: 80, targetPort }] },
});

const policy = (name: string, matchLabels: Record<string, string>, ns = 'a'): RawObject => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name, namespace: ns },
  spec: { selector: { matchLabels }, action: 'ALLOW', rules: [{ to: [{ operation: { ports: ['8080'] } }] }] },
});

const base: RawObject[] = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a', labels: { 'istio.io/dataplane-mode': 'ambient' } } },
  service('web', { app: 'web' }),
  service('api', { app: 'api' }),
  policy('web-allow', { app: 'web' }),
  pod('web-1', { app: 'web', version: 'v1' }, '10.0.0.1'),
  pod('web-2', { app: 'web', version: 'v2' }, '10.0.0.2'),
  pod('api-1', { app: 'api' }, '10.0.0.3'),
];

function setup(objs: RawObject[]): { reg: LocalRegistry; changes: () => ChangeSet | undefined } {
  const reg = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  let pending: ChangeSet | undefined;
  reg.onChange((c) => (pending = c));
  reg.replaceSource(
    't',
    objs.map((obj) => ({ obj, origin: 't' })),
  );
  return {
    reg,
    changes: () => {
      const c = pending;
      pending = undefined;
      return c;
    },
  };
}

const wl = (out: LocalOutput, name: string, ns = 'a'): WorkloadMsg => {
  const a = out.addresses.get(workloadUidForPod(mesh.clusterId, ns, name));
  if (!a || !('workload' in a)) throw new Error(`no workload ${name}`);
  return a.workload;
};

t.test('pods with the same selecting label value share their services map and policy list', async (t) => {
  const { reg } = setup(base);
  const out = generateLocal({ snapshot: reg.snapshot(), mesh }).output;
  const [w1, w2, api] = [wl(out, 'web-1'), wl(out, 'web-2'), wl(out, 'api-1')];
  t.ok(w1.services && w1.services === w2.services, 'same services object (other labels differ)');
  t.same(Object.keys(w1.services!), ['a/web.a.svc.cluster.local']);
  t.ok(w1.authorizationPolicies && w1.authorizationPolicies === w2.authorizationPolicies, 'same policy list');
  t.same(w1.authorizationPolicies, ['a/web-allow']);
  t.not(api.services, w1.services, 'another value, another piece');
  t.same(Object.keys(api.services!), ['a/api.a.svc.cluster.local']);
  t.equal(api.authorizationPolicies, undefined);
});

t.test('a shared piece is frozen: writing to it throws instead of changing its peers', async (t) => {
  const { reg } = setup(base);
  const w = wl(generateLocal({ snapshot: reg.snapshot(), mesh }).output, 'web-1');
  const svcs = w.services!;
  const ports = svcs['a/web.a.svc.cluster.local']!.ports!;
  t.throws(() => {
    svcs['a/other'] = {};
  }, TypeError);
  t.throws(() => {
    ports[0]!.targetPort = 1;
  }, TypeError);
  t.throws(() => (w.authorizationPolicies as string[]).push('a/x'), TypeError);
  t.same(ports, [{ servicePort: 80, targetPort: 8080 }], 'unchanged');
});

t.test('a pod whose selecting label changes gets the other piece (incremental == full)', async (t) => {
  const { reg, changes } = setup(base);
  const first = generateLocal({ snapshot: reg.snapshot(), mesh });
  changes();
  reg.applyEvents('t', [{ type: 'upsert', obj: pod('web-2', { app: 'api', version: 'v2' }, '10.0.0.2') }]);
  const c = changes();
  t.ok(c, 'a change set');
  const snapshot = reg.snapshot();
  const inc = generateLocal({ snapshot, mesh, previous: first.output, changes: c! }).output;
  const full = generateLocal({ snapshot, mesh }).output;
  t.equal(wl(inc, 'web-2').services, wl(inc, 'api-1').services, 'now shares the api piece');
  t.not(wl(inc, 'web-2').services, wl(inc, 'web-1').services);
  t.equal(wl(inc, 'web-2').authorizationPolicies, undefined, 'lost the web policy');
  for (const [k, v] of full.addresses) t.ok(msgEqual(inc.addresses.get(k), v), `incremental == full: ${k}`);
  t.equal(inc.addresses.size, full.addresses.size);
});

t.test('selections on several labels, named ports or selector PAs take the per-pod path, same answers', async (t) => {
  const objs: RawObject[] = [
    ...base,
    // Namespace b: a two-label Service selector; c: a named target port; d: a selector PeerAuthentication.
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'b' } },
    service('both', { app: 'web', version: 'v1' }, 'b'),
    pod('b-1', { app: 'web', version: 'v1' }, '10.0.1.1', 'b'),
    pod('b-2', { app: 'web', version: 'v2' }, '10.0.1.2', 'b'),
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'c' } },
    service('named', { app: 'web' }, 'c', 'http'),
    {
      ...pod('c-1', { app: 'web' }, '10.0.2.1', 'c'),
      spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 9090 }] }] },
    },
    {
      ...pod('c-2', { app: 'web' }, '10.0.2.2', 'c'),
      spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 7070 }] }] },
    },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'd' } },
    policy('d-allow', { app: 'web' }, 'd'),
    {
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: { name: 'strict-v1', namespace: 'd' },
      spec: { selector: { matchLabels: { version: 'v1' } }, mtls: { mode: 'STRICT' } },
    },
    pod('d-1', { app: 'web', version: 'v1' }, '10.0.3.1', 'd'),
    pod('d-2', { app: 'web', version: 'v2' }, '10.0.3.2', 'd'),
  ];
  const { reg } = setup(objs);
  const out = generateLocal({ snapshot: reg.snapshot(), mesh }).output;
  t.same(Object.keys(wl(out, 'b-1', 'b').services ?? {}), ['b/both.b.svc.cluster.local']);
  t.equal(wl(out, 'b-2', 'b').services, undefined, 'version v2 not selected (same app value)');
  const port = (name: string): number | undefined =>
    wl(out, name, 'c').services?.['c/named.c.svc.cluster.local']?.ports?.[0]?.targetPort;
  t.equal(port('c-1'), 9090, 'named port resolved per pod');
  t.equal(port('c-2'), 7070);
  t.same(wl(out, 'd-1', 'd').authorizationPolicies, ['d/d-allow', 'istio-system/istio_converted_static_strict']);
  t.same(wl(out, 'd-2', 'd').authorizationPolicies, ['d/d-allow'], 'the selector PA applies to v1 only');
});
