import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { exposeCommand, linkCommand } from '../../cmd/ambientd/link-cmd';
import { checkCommand } from '../../cmd/ambientd/check-cmd';
import { adminOf, Capture } from '../admin/helpers';
import { makePki, startCluster, ns, service, pods, held, until, type Cluster } from './harness';

t.setTimeout(240_000);
const pki = makePki(['cluster-a', 'cluster-b']);
t.teardown(() => pki.cleanup());

async function run(
  f: (io: { out: Capture['stream']; err: Capture['stream'] }) => number | Promise<number>,
): Promise<{ code: number; out: string; err: string }> {
  const out = new Capture();
  const err = new Capture();
  const code = await f({ out: out.stream, err: err.stream });
  return { code, out: out.text, err: err.text };
}

const debugUrl = (c: Cluster): string => `http://127.0.0.1:${adminOf(c.daemon).debugPort}`;

t.test('expose + link connect two clusters (file mode), idempotently; check points at what is missing', async (t) => {
  const a = await startCluster({
    name: 'cluster-a',
    network: 'net-a',
    pki: pki.dir,
    admin: true,
    files: {
      'ns.yaml': ns('shop', { 'solo.io/service-scope': 'global' }),
      'svc.yaml': service('web', 'shop'),
      'pods.yaml': pods('web', 'shop', 2, '10.1'),
    },
  });
  t.teardown(() => a.close());
  const b = await startCluster({
    name: 'cluster-b',
    network: 'net-b',
    pki: pki.dir,
    admin: true,
    files: { 'ns.yaml': ns('shop') },
  });
  t.teardown(() => b.close());

  // Before A exposes anything, linking is refused with the reason and the command that fixes it.
  const early = await run((io) => linkCommand(b.daemon.cfg, { from: debugUrl(a) }, io));
  t.equal(early.code, 1);
  t.match(early.err, /has no east-west Gateway; run `ambientd expose`/);

  // A exposes its east-west Gateway: the daemon's xDS port (peers dial the daemon in file mode; this
  // one listens on an ephemeral port, so it is given).
  const exposeA = { address: '127.0.0.1', write: 'true', region: 'eu-1', 'xds-port': String(a.port) };
  const e1 = await run((io) => exposeCommand(a.daemon.cfg, exposeA, io));
  t.equal(e1.code, 0, e1.err);
  t.match(e1.out, /east-west Gateway istio-gateways\/istio-eastwest written/);
  const ewFile = path.join(a.registryDir, 'istio-eastwest.yaml');
  const ew = parse(fs.readFileSync(ewFile, 'utf8'));
  t.same(ew.metadata.labels, {
    'topology.istio.io/network': 'net-a',
    'topology.istio.io/cluster': 'cluster-a',
    'istio.io/expose-istiod': String(a.port),
    'topology.kubernetes.io/region': 'eu-1',
  });
  t.same(
    ew.spec.listeners.map((l: { name: string; port: number }) => [l.name, l.port]),
    [
      ['cross-network', 15008],
      ['xds-tls', a.port],
    ],
  );
  t.same(ew.spec.addresses, [{ type: 'IPAddress', value: '127.0.0.1' }]);
  const e2 = await run((io) => exposeCommand(a.daemon.cfg, exposeA, io));
  t.match(e2.out, /unchanged/, 'expose is idempotent');

  // B links from A's debug URL once A's registry holds the Gateway.
  await until('A serves its east-west Gateway', () =>
    a.daemon.registry.snapshot().gateways.has('istio-gateways/istio-eastwest'),
  );
  const l1 = await run((io) => linkCommand(b.daemon.cfg, { from: debugUrl(a), write: 'true' }, io));
  t.equal(l1.code, 0, l1.err);
  t.match(
    l1.out,
    /istio-remote Gateway \(imports cluster-a, network net-a\) istio-gateways\/istio-remote-peer-cluster-a written/,
  );
  const rg = parse(fs.readFileSync(path.join(b.registryDir, 'istio-remote-peer-cluster-a.yaml'), 'utf8'));
  t.equal(rg.spec.gatewayClassName, 'istio-remote');
  t.same(rg.spec.addresses, [{ type: 'IPAddress', value: '127.0.0.1' }]);
  t.same(rg.metadata.labels, {
    'topology.istio.io/network': 'net-a',
    'topology.istio.io/cluster': 'cluster-a',
    'topology.kubernetes.io/region': 'eu-1',
  });
  t.same(rg.metadata.annotations, {
    'gateway.istio.io/service-account': 'istio-eastwest',
    'gateway.istio.io/trust-domain': 'cluster.local',
  });
  t.same(
    rg.spec.listeners.map((l: { name: string; port: number }) => [l.name, l.port]),
    [
      ['cross-network', 15008],
      ['xds-tls', a.port],
    ],
  );
  const l2 = await run((io) => linkCommand(b.daemon.cfg, { from: debugUrl(a), write: 'true' }, io));
  t.match(l2.out, /unchanged/, 'link is idempotent');

  // The link works: B imports A's global service.
  const z = b.ztunnel();
  z.connect();
  await until('B imports A', () =>
    held(z, 'net-a/SplitHorizonWorkload/istio-gateways/istio-remote-peer-cluster-a/shop/web.shop.mesh.internal'),
  );
  await until('B synced', () => b.cond('cluster-a', 'Synced') === 'True');

  // link --from a file: the same Gateway as from the URL (kubectl-applicable YAML on stdout).
  const exported = await run((io) =>
    exposeCommand(a.daemon.cfg, { address: '127.0.0.1', region: 'eu-1', 'xds-port': String(a.port) }, io),
  );
  const file = path.join(b.dir, 'a-eastwest.yaml');
  fs.writeFileSync(file, exported.out);
  const fromFile = await run((io) => linkCommand(b.daemon.cfg, { from: file }, io));
  t.equal(fromFile.code, 0, fromFile.err);
  t.same(parse(fromFile.out), rg, 'file and URL give the same Gateway');

  // Kubernetes mode: no address known yet (the LoadBalancer assigns it) -> the link would be Invalid.
  const k8s = await run((io) => exposeCommand(a.daemon.cfg, { 'xds-port': String(a.port) }, io));
  t.notOk(parse(k8s.out).spec.addresses, 'no address before the LoadBalancer has one');
  fs.writeFileSync(file, k8s.out);
  const noAddr = await run((io) => linkCommand(b.daemon.cfg, { from: file }, io));
  t.equal(noAddr.code, 1);
  t.match(noAddr.err, /would be Invalid: spec\.addresses is required/);
  const withAddr = await run((io) => linkCommand(b.daemon.cfg, { from: file, address: 'ew.cluster-a.example' }, io));
  t.same(parse(withAddr.out).spec.addresses, [{ type: 'Hostname', value: 'ew.cluster-a.example' }]);
  // A trust domain B has no roots for, and B itself, are refused.
  fs.writeFileSync(
    file,
    exported.out.replace('gateway.istio.io/trust-domain: cluster.local', 'gateway.istio.io/trust-domain: td-x'),
  );
  const td = await run((io) => linkCommand(b.daemon.cfg, { from: file }, io));
  t.match(td.err, /would be Invalid: trust domain "td-x" has no roots configured/);
  const self = await run((io) => linkCommand(a.daemon.cfg, { from: debugUrl(a) }, io));
  t.match(self.err, /the peer is this cluster \(cluster-a\)/);

  // check on A: B imports from A, A does not import from B -> named, with the command that links back.
  const cap = new Capture();
  await until("A sees B's inbound stream", async () => {
    const c = await fetch(`${debugUrl(a)}/debug/connections`).then(
      (r) => r.json() as Promise<{ inboundPeers: unknown[] }>,
    );
    return c.inboundPeers.length === 1;
  });
  await checkCommand({ debugUrl: debugUrl(a), output: 'text' }, cap.stream);
  t.match(
    cap.text,
    new RegExp(
      /^✓ peers linked: east-west Gateway istio-gateways\/istio-eastwest; 0 peer\(s\) declared; /.source +
        /cluster-b imports from this cluster but is not imported from \(one-way\); /.source +
        /to link back: `ambientd link --from <cluster-b debug URL> --write`$/.source,
      'm',
    ),
  );
  // Without its east-west Gateway, A's check fails and says to run expose.
  fs.rmSync(ewFile);
  await until(
    'A dropped its east-west Gateway',
    () => !a.daemon.registry.snapshot().gateways.has('istio-gateways/istio-eastwest'),
  );
  const cap2 = new Capture();
  const code = await checkCommand({ debugUrl: debugUrl(a), output: 'text' }, cap2.stream);
  t.equal(code, 1);
  t.match(
    cap2.text,
    new RegExp(
      /^✗ peers linked: no east-west Gateway: /.source +
        /peers cannot link to this cluster; run `ambientd expose/.source,
      'm',
    ),
  );
});
