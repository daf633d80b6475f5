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
  t.match(
    reason({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 0 }] } }),
    /port: 0 is out of range 1\.\.65535/,
  );
  t.match(
    reason({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: '80' }] } }),
    /port: must be an integer/,
  );
  t.match(
    reason({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { clusterIP: '10.96.0.999' } }),
    /clusterIP: "10\.96\.0\.999" is not a valid IP/,
  );
  const s = ok({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 's' },
    spec: { clusterIP: 'None', selector: {}, ports: [{ port: 80, targetPort: '8080' }] },
  });
  t.match(s.obj, { clusterIPs: [], ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] });
  t.notOk('selector' in s.obj, 'empty selector normalised away');
});

t.test('WorkloadEntry address and ports', async (t) => {
  const we = (spec: unknown) => ({
    apiVersion: 'networking.istio.io/v1',
    kind: 'WorkloadEntry',
    metadata: { name: 'w', namespace: 'vm' },
    spec,
  });
  t.match(ok(we({ address: 'vm.example.com', ports: { http: 8080 } })).obj, {
    address: 'vm.example.com',
    ports: { http: 8080 },
  });
  t.match(reason(we({ address: '10.0.0.256' })), /spec\.address/);
  t.match(reason(we({ ports: { http: 70000 } })), /spec\.ports\.http: 70000 is out of range/);
});

t.test('AuthorizationPolicy validation', async (t) => {
  const ap = (spec: unknown) => ({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'a', namespace: 'x' },
    spec,
  });
  t.match(reason(ap({ action: 'MAYBE' })), /spec\.action: "MAYBE" is not one of/);
  t.match(
    reason(ap({ rules: [{ to: [{ operation: { ports: ['http'] } }] }] })),
    /ports\[0\]: "http" is not a valid port/,
  );
  t.match(reason(ap({ rules: [{ from: [{ source: { principals: 'x' } }] }] })), /principals: must be a list/);
  t.match(reason(ap({ rules: [{ when: [{ values: ['a'] }] }] })), /when\[0\]\.key: is required/);
  const p = ok(ap({ selector: { matchLabels: { app: 'a' } }, targetRefs: [{ kind: 'Service', name: 's' }] }));
  t.match(p.obj, { hasTargetRef: true, selector: { app: 'a' }, action: 'ALLOW' });
  t.notOk('rules' in p.obj, 'absent rules stay absent (ALLOW with no rules denies all)');
});

t.test('Gateway listeners and Gateway API group only', async (t) => {
  const gw = (spec: unknown, apiVersion = 'gateway.networking.k8s.io/v1') => ({
    apiVersion,
    kind: 'Gateway',
    metadata: { name: 'g', namespace: 'gw' },
    spec,
  });
  t.match(reason(gw({ listeners: [] })), /gatewayClassName: is required/);
  t.match(
    reason(gw({ gatewayClassName: 'c', listeners: [{ name: 'l', port: 99999, protocol: 'HBONE' }] })),
    /port: 99999 is out of range/,
  );
  t.equal(normalise(gw({ gatewayClassName: 'c' }, 'gateway.networking.k8s.io/v1beta1')).status, 'ok');
  t.equal(normalise(gw({}, 'networking.istio.io/v1')).status, 'unknown');
});

t.test('Pod keeps only what translation needs', async (t) => {
  const p = ok({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'p',
      annotations: { 'ambient.istio.io/redirection': 'enabled', 'kubectl.kubernetes.io/restartedAt': 'x' },
      ownerReferences: [{ kind: 'ReplicaSet', name: 'rs', controller: true }],
    },
    spec: {
      containers: [
        {
          name: 'c',
          image: 'big',
          env: [{ name: 'A', value: 'b' }],
          ports: [{ containerPort: 80 }, { name: 'http', containerPort: 8080 }],
        },
      ],
    },
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

t.test('Pod: ipBytes are the canonical ips as bytes, same order, frozen and not enumerable', async (t) => {
  const p = ok({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p' },
    status: { podIP: '10.0.0.9', podIPs: [{ ip: 'fd00::0001' }, { ip: '10.0.0.2' }, { ip: '10.0.0.2' }] },
  }).obj;
  if (p.kind !== 'Pod') throw new Error('not a Pod');
  t.same(p.ips, ['10.0.0.9', 'fd00::1', '10.0.0.2'], 'podIP first, duplicates dropped');
  t.same(
    p.ipBytes?.map((b) => b.toString('hex')),
    ['0a000009', 'fd000000000000000000000000000001', '0a000002'],
  );
  t.ok(Object.isFrozen(p.ipBytes), 'frozen: shared by every translation');
  t.notOk(Object.keys(p).includes('ipBytes'), 'not enumerable');
  t.notOk(Object.getOwnPropertyDescriptor(p, 'ipBytes')?.writable, 'not writable');
});

t.test('Pod: an empty map or port list is one shared frozen value, not one per pod', async (t) => {
  const pod = (name: string, annotations: Record<string, string>) => {
    const o = ok({ apiVersion: 'v1', kind: 'Pod', metadata: { name, annotations }, spec: { containers: [{}] } }).obj;
    if (o.kind !== 'Pod') throw new Error('not a Pod');
    return o;
  };
  const a = pod('a', {});
  const b = pod('b', { 'kubectl.kubernetes.io/restartedAt': 'x' });
  t.equal(a.annotations, b.annotations, 'none kept in either: the same object');
  t.equal(a.labels, b.labels, 'no labels: the same object');
  t.ok(Object.isFrozen(a.annotations), 'frozen: no pod can write into another');
  t.equal(a.namedPorts, b.namedPorts, 'no named port: the same list');
  t.ok(Object.isFrozen(a.namedPorts));
  t.same(pod('c', { 'istio.io/dataplane-mode': 'none' }).annotations, { 'istio.io/dataplane-mode': 'none' });
});

t.test('EndpointSlice: keeps the Service name, ports and the endpoints no Pod backs', async (t) => {
  const es = (extra: Record<string, unknown>) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'ext-1', namespace: 'x', labels: { 'kubernetes.io/service-name': 'ext', other: 'dropped' } },
    addressType: 'IPv4',
    ...extra,
  });
  const r = ok(
    es({
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { port: 9090 }],
      endpoints: [
        { addresses: ['192.168.1.10'], conditions: { ready: false }, hostname: 'h', nodeName: 'n1' },
        { addresses: ['192.168.1.11'] },
        { addresses: ['10.0.0.5'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'p', namespace: 'x' } },
      ],
    }),
  );
  t.same(r.obj, {
    kind: 'EndpointSlice',
    name: 'ext-1',
    namespace: 'x',
    addressType: 'IPv4',
    // The API server's defaults for a missing name / protocol.
    ports: [
      { name: 'http', protocol: 'TCP', port: 8080 },
      { name: '', protocol: 'TCP', port: 9090 },
    ],
    endpoints: [
      { addresses: ['192.168.1.10'], key: '192.168.1.10', ready: false },
      { addresses: ['192.168.1.11'], key: '192.168.1.11', ready: true },
    ],
    serviceName: 'ext',
    podRefs: ['x/p'],
  });
  // The endpointslice controller's slices list only Pods their Service selects: their Pod list is dropped.
  const managed = ok({
    ...es({ endpoints: [{ addresses: ['10.0.0.5'], targetRef: { kind: 'Pod', name: 'p' } }] }),
    metadata: {
      name: 'web-abc',
      namespace: 'x',
      labels: {
        'kubernetes.io/service-name': 'web',
        'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
      },
    },
  });
  t.notOk('podRefs' in managed.obj, 'controller-managed: no pod list kept');
  const other = ok(
    es({
      endpoints: [
        { addresses: ['10.0.0.5'], targetRef: { kind: 'Pod', name: 'p', namespace: 'elsewhere' } },
        { addresses: ['10.0.0.6'], targetRef: { kind: 'Pod', name: 'q' } },
      ],
    }),
  );
  t.same(
    (other.obj as { podRefs?: string[] }).podRefs,
    ['x/q'],
    "same-namespace Pods only; namespace defaults to the slice's",
  );
  // istiod keys the workload uid by the address as written; the model keeps both forms.
  const v6 = ok({ ...es({ endpoints: [{ addresses: ['2001:DB8::1'] }] }), addressType: 'IPv6' });
  t.match(v6.obj, { endpoints: [{ addresses: ['2001:db8::1'], key: '2001:DB8::1' }] });
});

t.test('EndpointSlice validation: malformed IPs and address types reject the slice with a reason', async (t) => {
  const es = (
    addressType: unknown,
    endpoints: unknown,
    labels: Record<string, string> = { 'kubernetes.io/service-name': 'ext' },
  ) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 's', namespace: 'x', labels },
    addressType,
    endpoints,
  });
  t.match(
    reason(es('IPv4', [{ addresses: ['10.0.0.300'] }])),
    /endpoints\[0\]\.addresses\[0\]: "10\.0\.0\.300" is not a valid IP address/,
  );
  // Even a Pod-backed endpoint's address is validated: the object is judged whole.
  t.match(reason(es('IPv4', [{ addresses: ['x'], targetRef: { kind: 'Pod' } }])), /not a valid IP address/);
  t.match(reason(es('IPv5', [])), /addressType: "IPv5" is not one of/);
  t.match(reason(es(undefined, [])), /addressType: is required/);
  t.match(
    reason(es('IPv4', [{ addresses: ['10.0.0.1'], conditions: { ready: 'yes' } }])),
    /conditions\.ready: must be a boolean/,
  );
  t.match(reason({ ...es('IPv4', []), ports: [{ port: 0 }] }), /ports\[0\]\.port: 0 is out of range/);
  // FQDN slices hold hostnames, and slices of no Service are nobody's: both keep no endpoints.
  const endpoints = (o: unknown) => (o as { endpoints: unknown[] }).endpoints.length;
  t.equal(endpoints(ok(es('FQDN', [{ addresses: ['db.example.com'] }])).obj), 0);
  t.equal(endpoints(ok(es('IPv4', [{ addresses: ['10.0.0.1'] }], {})).obj), 0);
  t.equal(
    normalise({ apiVersion: 'v1', kind: 'EndpointSlice', metadata: { name: 's' } }).status,
    'unknown',
    'only discovery.k8s.io',
  );
});
