import t from 'tap';
import { ipToBytes } from '../model';
import { LbMode, LbScope, WorkloadStatus, type AddressMsg, type WorkloadMsg } from '../translate';
import { buildRouteTable, parseAuthority, pickEndpoint, type Endpoint, type Route } from './routes';

const CTX = { network: 'net-b', clusterId: 'cb', domainSuffix: 'cluster.local', discoverySuffix: 'mesh.internal' };
const GLOBAL = 'echo.demo.mesh.internal';

function pod(name: string, ip: string, keys: string[], extra: Partial<WorkloadMsg> = {}): AddressMsg {
  const services: Record<string, object> = {};
  for (const k of keys) services[k] = { ports: [{ servicePort: 80, targetPort: 8080 }] };
  const w: WorkloadMsg = { uid: `cb//Pod/demo/${name}`, name, namespace: 'demo', addresses: [ipToBytes(ip)!] };
  return { workload: { ...w, network: 'net-b', clusterId: 'cb', services, ...extra } };
}
const svc = (hostname: string, ports = [80]): AddressMsg => ({
  service: {
    name: hostname.split('.')[0],
    namespace: 'demo',
    hostname,
    ports: ports.map((p) => ({ servicePort: p, targetPort: 8080 })),
  },
});

t.test('parseAuthority: hostname:port only, as ztunnel parses it', async (t) => {
  t.same(parseAuthority(`${GLOBAL}:80`), { host: GLOBAL, port: 80 });
  t.same(parseAuthority('ECHO.demo.mesh.internal:80'), { host: GLOBAL, port: 80 }, 'case-insensitive host');
  for (const [a, reason] of [
    [undefined, 'bad_authority'],
    ['', 'bad_authority'],
    [GLOBAL, 'bad_authority'],
    [`${GLOBAL}:`, 'bad_authority'],
    [`${GLOBAL}:0`, 'bad_authority'],
    [`${GLOBAL}:65536`, 'bad_authority'],
    ['a_b:80', 'bad_authority'],
    [`${GLOBAL}:80:1`, 'bad_authority'],
    ['10.1.0.1:15008', 'ip_authority'],
    ['[fd00::1]:80', 'ip_authority'],
    ['10.1.0.1', 'ip_authority'],
    ['[::1]', 'ip_authority'],
  ] as const)
    t.same(parseAuthority(a), { reason }, `${JSON.stringify(a)} → ${reason}`);
});

t.test('the table: exported global hostnames and their cluster.local aliases, local endpoints only', async (t) => {
  const table = buildRouteTable(
    [
      svc('echo.demo.svc.cluster.local'),
      svc(GLOBAL, [80, 9090]),
      svc('local.demo.svc.cluster.local'),
      svc('remote.demo.mesh.internal'),
      pod('e0', '10.1.0.1', ['demo/echo.demo.svc.cluster.local', `demo/${GLOBAL}`]),
      pod('e1', '10.1.0.2', [`demo/${GLOBAL}`], { status: WorkloadStatus.UNHEALTHY }),
      pod('l0', '10.1.0.3', ['demo/local.demo.svc.cluster.local']),
      // Not endpoints: a split-horizon workload, a flat peer's pod, a pod of another network.
      {
        workload: {
          uid: 'net-a/SplitHorizonWorkload/x',
          namespace: 'demo',
          network: 'net-a',
          networkGateway: { hboneMtlsPort: 15008 },
          services: { 'demo/remote.demo.mesh.internal': {} },
        },
      },
      pod('p0', '10.9.0.1', [`demo/${GLOBAL}`, 'demo/remote.demo.mesh.internal'], { clusterId: 'ca' }),
      pod('n0', '10.8.0.1', ['demo/remote.demo.mesh.internal'], { network: 'net-a' }),
    ],
    CTX,
  );
  t.same([...table.routes.keys()], [GLOBAL], 'only what this cluster backs');
  const r = table.routes.get(GLOBAL)!;
  t.same(
    r.endpoints.map((e) => [e.ip, e.healthy]),
    [
      ['10.1.0.1', true],
      ['10.1.0.2', false],
    ],
  );
  t.same([...r.ports], [80, 9090]);
  const ok = table.resolve('echo.demo.svc.cluster.local:9090');
  t.ok(ok.ok && ok.route === r, 'the cluster.local name of an exported service is an alias');
  const refused = (host: string, reason: string): object => ({ ok: false, reason, host });
  t.same(table.resolve('local.demo.svc.cluster.local:80'), refused('local.demo.svc.cluster.local', 'not_exported'));
  t.same(
    table.resolve('remote.demo.mesh.internal:80'),
    refused('remote.demo.mesh.internal', 'not_exported'),
    'imported from peers only',
  );
  t.same(table.resolve('nope.demo.mesh.internal:80'), refused('nope.demo.mesh.internal', 'unknown_host'));
  t.same(table.resolve(`${GLOBAL}:81`), { ok: false, reason: 'unknown_port', host: GLOBAL });
});

t.test('pickEndpoint: healthy only, load balancing preferences, then fewest open tunnels', async (t) => {
  const ep = (uid: string, zone: string, healthy = true): Endpoint => ({
    uid,
    ip: uid,
    healthy,
    locality: { region: 'r1', zone },
  });
  const endpoints = [ep('a', 'z1'), ep('b', 'z2'), ep('c', 'z1', false)];
  const base: Route = { hostname: GLOBAL, namespace: 'demo', ports: new Set([80]), endpoints };
  const none = (): number => 0;
  const first = (): number => 0;
  t.equal(pickEndpoint(base, undefined, (u) => (u === 'a' ? 3 : 1), first)!.uid, 'b', 'least open tunnels');
  const seen = new Set<string>();
  for (const r of [0, 0.99]) seen.add(pickEndpoint(base, undefined, none, () => r)!.uid);
  t.same([...seen].sort(), ['a', 'b'], 'ties broken at random; never the unhealthy one');
  const here = { region: 'r1', zone: 'z2' };
  const prefs = [LbScope.NETWORK, LbScope.REGION, LbScope.ZONE];
  const close: Route = { ...base, loadBalancing: { routingPreference: prefs, mode: LbMode.FAILOVER } };
  t.equal(
    pickEndpoint(close, here, (u) => (u === 'b' ? 9 : 0), first)!.uid,
    'b',
    'FAILOVER: same zone first, however busy',
  );
  const away = { region: 'r1', zone: 'z9' };
  t.ok(['a', 'b'].includes(pickEndpoint(close, away, none, first)!.uid), 'FAILOVER: falls back to the region');
  const strict: Route = { ...close, loadBalancing: { ...close.loadBalancing!, mode: LbMode.STRICT } };
  t.equal(pickEndpoint(strict, away, none, first), undefined, 'STRICT: nothing outside the preferred scope');
  const sick: Route = { ...base, endpoints: [ep('c', 'z1', false)] };
  t.equal(pickEndpoint(sick, undefined, none), undefined, 'no healthy endpoint');
});
