import t from 'tap';
import type { Test } from 'tap';
import { generateLocal, msgEqual, STATIC_STRICT_POLICY } from './index';
import type { MeshContext, WorkloadMsg } from './index';
import { loadMeshDir, loadProtoRoot } from './testing/util';

// The shipped example meshes load without a single rejection and translate
// into messages the wire schema accepts.
const root = loadProtoRoot();
const Address = root.lookupType('istio.workload.Address');
const Authorization = root.lookupType('istio.security.Authorization');

async function load(t: Test, dir: string, mesh: MeshContext) {
  const { registry, source } = await loadMeshDir(dir);
  t.teardown(() => source.close());
  t.same(registry.snapshot().rejected, [], `${dir}: nothing rejected`);
  const out = generateLocal({ snapshot: registry.snapshot(), mesh }).output;
  for (const [k, m] of out.addresses) {
    t.equal(Address.verify(m), null, `${k} verifies`);
    t.ok(
      msgEqual(Address.toObject(Address.decode(Address.encode(m).finish()), { enums: Number }), m),
      `${k} round-trips`,
    );
  }
  for (const [k, m] of out.authorizations) t.equal(Authorization.verify(m), null, `${k} verifies`);
  return { registry, out };
}

const mesh = (clusterId: string, network: string): MeshContext => ({
  clusterId,
  network,
  trustDomain: 'cluster.local',
  domainSuffix: 'cluster.local',
  rootNamespace: 'istio-system',
});

t.test('examples/default/mesh', async (t) => {
  const { registry, out } = await load(t, 'examples/default/mesh', mesh('cluster-default', ''));
  const s = registry.snapshot();
  t.equal(s.namespaces.size, 3);
  t.equal(s.services.size, 4);
  t.equal(s.pods.size, 6);
  t.equal(s.authorizationPolicies.size, 3);
  const wl = (ns: string, name: string): WorkloadMsg => {
    const a = out.addresses.get(`cluster-default//Pod/${ns}/${name}`);
    if (!a || !('workload' in a)) throw new Error(`no workload ${ns}/${name}`);
    return a.workload;
  };
  const catalog = wl('bookstore', 'catalog-5d8b9c7f4-fghij');
  t.same(
    catalog.services?.['bookstore/catalog.bookstore.svc.cluster.local'],
    {
      ports: [
        { servicePort: 8080, targetPort: 3000 },
        { servicePort: 9000, targetPort: 9000 },
      ],
    },
    'named targetPort resolved',
  );
  t.same(catalog.authorizationPolicies, ['bookstore/catalog-from-frontend', `istio-system/${STATIC_STRICT_POLICY}`]);
  t.equal(catalog.tunnelProtocol, 1, 'ambient namespace → HBONE');
  t.same(catalog.locality, { region: 'eu-west1', zone: 'eu-west1-a' });
  t.equal(wl('bookstore', 'reviews-v1-7f6d8c9b5-pqrst').status, 1, 'not Ready → UNHEALTHY');
  t.equal(wl('legacy', 'inventory-db-0').tunnelProtocol, undefined, 'outside ambient → plain TCP');
  t.equal(wl('legacy', 'batch-report-28901234-xyz12').workloadName, 'batch-report');
  t.same([...out.authorizations.keys()].sort(), [
    'bookstore/bookstore-internal',
    'bookstore/catalog-from-frontend',
    'istio-system/deny-blocklisted',
    `istio-system/${STATIC_STRICT_POLICY}`,
  ]);
});

for (const c of ['a', 'b']) {
  t.test(`examples/two-cluster/cluster-${c}/mesh`, async (t) => {
    const { registry, out } = await load(t, `examples/two-cluster/cluster-${c}/mesh`, mesh(`cluster-${c}`, `net-${c}`));
    const reviews = registry.snapshot().services.get('bookinfo/reviews');
    t.equal(reviews?.labels['solo.io/service-scope'], 'global', 'global service marked');
    t.ok(out.addresses.has('bookinfo/reviews.bookinfo.svc.cluster.local'));
  });
}
