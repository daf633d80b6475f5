import t from 'tap';
import { normalise } from './index';

const ok = (raw: Record<string, unknown>) => {
  const r = normalise(raw);
  if (r.status !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r;
};
const reason = (raw: unknown): string => {
  const r = normalise(raw);
  return r.status === 'invalid' ? r.reason : `(${r.status})`;
};

t.test('namespace defaults to "default"; cluster-scoped keys are bare names', async (t) => {
  t.equal(ok({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } }).key, 'default/s');
  t.equal(ok({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n', namespace: 'ignored' } }).key, 'n');
});

t.test('documents that are not objects or lack a kind', async (t) => {
  t.match(reason('just a string'), /not an object/);
  t.match(reason({ metadata: { name: 'x' } }), /kind: is required/);
  t.equal(normalise({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } }).status, 'unknown');
});

t.test('Service validation', async (t) => {
  t.match(reason({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 0 }] } }), /port: 0 is out of range 1\.\.65535/);
  t.match(reason({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: '80' }] } }), /port: must be an integer/);
  t.match(reason({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { clusterIP: '10.96.0.999' } }), /clusterIP: "10\.96\.0\.999" is not a valid IP/);
  const s = ok({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { clusterIP: 'None', selector: {}, ports: [{ port: 80, targetPort: '8080' }] } });
  t.match(s.obj, { clusterIPs: [], ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] });
  t.notOk('selector' in s.obj, 'empty selector normalised away');
});

t.test('WorkloadEntry address and ports', async (t) => {
  const we = (spec: unknown) => ({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'w', namespace: 'vm' }, spec });
  t.match(ok(we({ address: 'vm.example.com', ports: { http: 8080 } })).obj, { address: 'vm.example.com', ports: { http: 8080 } });
  t.match(reason(we({ address: '10.0.0.256' })), /spec\.address/);
  t.match(reason(we({ ports: { http: 70000 } })), /spec\.ports\.http: 70000 is out of range/);
});

t.test('AuthorizationPolicy validation', async (t) => {
  const ap = (spec: unknown) => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'a', namespace: 'x' }, spec });
  t.match(reason(ap({ action: 'MAYBE' })), /spec\.action: "MAYBE" is not one of/);
  t.match(reason(ap({ rules: [{ to: [{ operation: { ports: ['http'] } }] }] })), /ports\[0\]: "http" is not a valid port/);
  t.match(reason(ap({ rules: [{ from: [{ source: { principals: 'x' } }] }] })), /principals: must be a list/);
  t.match(reason(ap({ rules: [{ when: [{ values: ['a'] }] }] })), /when\[0\]\.key: is required/);
  const p = ok(ap({ selector: { matchLabels: { app: 'a' } }, targetRefs: [{ kind: 'Service', name: 's' }] }));
  t.match(p.obj, { hasTargetRef: true, selector: { app: 'a' }, action: 'ALLOW' });
  t.notOk('rules' in p.obj, 'absent rules stay absent (ALLOW with no rules denies all)');
});

t.test('Gateway listeners and Gateway API group only', async (t) => {
  const gw = (spec: unknown, apiVersion = 'gateway.networking.k8s.io/v1') => ({ apiVersion, kind: 'Gateway', metadata: { name: 'g', namespace: 'gw' }, spec });
  t.match(reason(gw({ listeners: [] })), /gatewayClassName: is required/);
  t.match(reason(gw({ gatewayClassName: 'c', listeners: [{ name: 'l', port: 99999, protocol: 'HBONE' }] })), /port: 99999 is out of range/);
  t.equal(normalise(gw({ gatewayClassName: 'c' }, 'gateway.networking.k8s.io/v1beta1')).status, 'ok');
  t.equal(normalise(gw({}, 'networking.istio.io/v1')).status, 'unknown');
});

t.test('Pod keeps only what translation needs', async (t) => {
  const p = ok({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', annotations: { 'ambient.istio.io/redirection': 'enabled', 'kubectl.kubernetes.io/restartedAt': 'x' }, ownerReferences: [{ kind: 'ReplicaSet', name: 'rs', controller: true }] },
    spec: { containers: [{ name: 'c', image: 'big', env: [{ name: 'A', value: 'b' }], ports: [{ containerPort: 80 }, { name: 'http', containerPort: 8080 }] }] },
    status: { podIPs: [{ ip: 'fd00::0001' }, { ip: '10.0.0.1' }], phase: 'Running' },
  });
  t.same(p.obj, {
    kind: 'Pod',
    name: 'p',
    namespace: 'default',
    labels: {},
    annotations: { 'ambient.istio.io/redirection': 'enabled' },
    ips: ['fd00::1', '10.0.0.1'],
    serviceAccount: 'default',
    hostNetwork: false,
    phase: 'Running',
    ready: false,
    deleting: false,
    namedPorts: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    owner: { kind: 'ReplicaSet', name: 'rs' },
  });
});
