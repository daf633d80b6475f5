import t from 'tap';
import type { Test } from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { TYPE_CLUSTER_INFO, TYPE_FEDERATED_SERVICE } from '../../pkg/peering';
import { ZtunnelClient } from '../harness/ztunnel-client';
import { startFakePeer } from './fake-peer';
import {
  makePki,
  leafFrom,
  startCluster,
  ns,
  service,
  pods,
  remote,
  held,
  until,
  peeringWire,
  type Cluster,
} from './harness';

// Trust domains map to roots per peer (peering.trustBundles). Two meshes with
// their own roots: td-a (root A, intermediates cluster-a and cluster-a2) and
// td-b (root B, intermediate cluster-b), all generated per run by certs/.

t.setTimeout(240_000);
const pkiA = makePki(['cluster-a', 'cluster-a2']);
const pkiB = makePki(['cluster-b']);
t.teardown(() => {
  pkiA.cleanup();
  pkiB.cleanup();
});
const ROOT_A = path.join(pkiA.dir, 'root-cert.pem');
const ROOT_B = path.join(pkiB.dir, 'root-cert.pem');
const PEER_B = 'spiffe://td-b/ns/istio-system/sa/istiod';
const PEER_A = 'spiffe://td-a/ns/istio-system/sa/istiod';
const GLOBAL_WEB = {
  'ns.yaml': ns('shop', { 'solo.io/service-scope': 'global' }),
  'svc.yaml': service('web', 'shop'),
  'pods.yaml': pods('web', 'shop', 1, '10.1'),
};

function clusterA(files: Record<string, string> = GLOBAL_WEB): Promise<Cluster> {
  return startCluster({
    name: 'cluster-a',
    network: 'net-a',
    pki: pkiA.dir,
    flags: { 'trust-domain': 'td-a', 'peering-trust-bundles': `td-b=${ROOT_B}` },
    files,
  });
}

/** A peering-type subscriber on A's port with the given client certificate. */
function peerClient(
  t: Test,
  a: Cluster,
  cert: { certChainPem: string; keyPem: string },
  types = [TYPE_CLUSTER_INFO, TYPE_FEDERATED_SERVICE],
): ZtunnelClient {
  const z = new ZtunnelClient({
    wire: peeringWire(),
    address: `127.0.0.1:${a.port}`,
    rootCaPem: a.daemon.authority.rootBundlePem(),
    serverName: 'istiod.istio-system.svc',
    clientCertPem: cert.certChainPem,
    clientKeyPem: cert.keyPem,
    types,
  });
  t.teardown(() => z.close());
  z.connect();
  return z;
}

t.test(
  "peers in different trust domains with each other's roots configured connect and import, both ways",
  async (t) => {
    const a = await clusterA();
    t.teardown(() => a.close());
    const b = await startCluster({
      name: 'cluster-b',
      network: 'net-b',
      pki: pkiB.dir,
      flags: { 'trust-domain': 'td-b', 'peering-trust-bundles': `td-a=${ROOT_A}` },
      files: {
        'ns.yaml': ns('shop', { 'solo.io/service-scope': 'global' }),
        'svc.yaml': service('api', 'shop'),
        'pods.yaml': pods('api', 'shop', 2, '10.2'),
        'peer.yaml': remote({
          cluster: 'cluster-a',
          network: 'net-a',
          port: a.port,
          annotations: { 'gateway.istio.io/trust-domain': 'td-a' },
        }),
      },
    });
    t.teardown(() => b.close());
    a.write(
      'peer.yaml',
      remote({
        cluster: 'cluster-b',
        network: 'net-b',
        port: b.port,
        annotations: { 'gateway.istio.io/trust-domain': 'td-b' },
      }),
    );

    const zb = b.ztunnel();
    zb.connect();
    const web = await until('B imports web from A (td-a)', () =>
      held(zb, 'net-a/SplitHorizonWorkload/istio-gateways/istio-remote-peer-cluster-a/shop/web.shop.mesh.internal'),
    );
    t.equal(web!.workload.network, 'net-a');
    t.equal(web!.workload.capacity.value, 1);
    const za = a.ztunnel();
    za.connect();
    const api = await until('A imports api from B (td-b)', () =>
      held(za, 'net-b/SplitHorizonWorkload/istio-gateways/istio-remote-peer-cluster-b/shop/api.shop.mesh.internal'),
    );
    t.equal(api!.workload.capacity.value, 2);
    await until(
      'both synced',
      () => a.cond('cluster-b', 'Synced') === 'True' && b.cond('cluster-a', 'Synced') === 'True',
    );
    t.equal(a.peer('cluster-b')!.services, 1);
    t.equal(b.peer('cluster-a')!.services, 1);
    // A transient drop under load is possible; a refusal of either side's identity is not.
    for (const [who, st] of [
      ['A->B', a.peer('cluster-b')],
      ['B->A', b.peer('cluster-a')],
    ] as const) {
      t.notMatch(
        st!.lastTermination?.reason ?? '',
        /^(tls|unauthenticated|permission_denied|server_identity)$/,
        `${who} never refused`,
      );
    }
  },
);

t.test('server side: a certificate must anchor in the roots of the trust domain its SPIFFE id names', async (t) => {
  const a = await clusterA();
  t.teardown(() => a.close());
  // The td-b peer identity under td-b's root (via its intermediate): admitted to peering types only.
  const ok = peerClient(t, a, leafFrom(pkiB.dir, 'cluster-b', 'peer-b', [`URI:${PEER_B}`]));
  const fsv = await until('td-b peer reads FederatedService', () => ok.held(TYPE_FEDERATED_SERVICE).get('shop/web'));
  t.equal(fsv!.value['hostname'], 'web.shop.mesh.internal');
  t.equal(ok.held(TYPE_CLUSTER_INFO).get('cluster')!.value['trustDomain'], 'td-a');
  // The same identity signed under td-a's root: TLS accepts the chain (root A is trusted), the anchor check does not.
  const crossed = peerClient(t, a, leafFrom(pkiA.dir, 'cluster-a2', 'b-under-a', [`URI:${PEER_B}`]));
  await until('td-b identity under td-a root refused', () => crossed.status);
  t.equal(crossed.status!.code, 16, 'UNAUTHENTICATED');
  t.equal(crossed.held(TYPE_FEDERATED_SERVICE).size, 0);
  // And the reverse: td-b's root does not vouch for a td-a identity.
  const reverse = peerClient(t, a, leafFrom(pkiB.dir, 'cluster-b', 'a-under-b', [`URI:${PEER_A}`]));
  await until('td-a identity under td-b root refused', () => reverse.status);
  t.equal(reverse.status!.code, 16);
  // From a foreign trust domain only the peer daemon account is accepted.
  const app = peerClient(t, a, leafFrom(pkiB.dir, 'cluster-b', 'b-app', ['URI:spiffe://td-b/ns/shop/sa/web']));
  await until('td-b workload identity refused', () => app.status);
  t.equal(app.status!.code, 16);
  // The admitted td-b peer may not read ztunnel types.
  const zt = peerClient(t, a, leafFrom(pkiB.dir, 'cluster-b', 'peer-b2', [`URI:${PEER_B}`]), [
    'type.googleapis.com/istio.workload.Address',
  ]);
  await until('ztunnel type refused to a peer', () => zt.status);
  t.equal(zt.status!.code, 7, 'PERMISSION_DENIED');
  t.equal(ok.status, undefined, 'the legitimate peer stays connected');
});

t.test(
  "client side: a server anchored in the wrong trust domain's root is refused; " +
    'a trust domain without roots is never dialled',
  async (t) => {
    // Claims the td-a peer identity but chains to td-b's root.
    const wrong = await startFakePeer({
      ...leafFrom(pkiB.dir, 'cluster-b', 'fake-wrong', [`URI:${PEER_A}`, 'IP:127.0.0.1']),
      trustBundlePem: fs.readFileSync(ROOT_B, 'utf8'),
    });
    t.teardown(() => wrong.close());
    // The same identity under td-a's root.
    const right = await startFakePeer({
      ...leafFrom(pkiA.dir, 'cluster-a2', 'fake-right', [`URI:${PEER_A}`, 'IP:127.0.0.1']),
      trustBundlePem: fs.readFileSync(ROOT_B, 'utf8'),
    });
    t.teardown(() => right.close());
    right.put(TYPE_CLUSTER_INFO, { cluster: { clusterId: 'cluster-y', network: 'net-y', trustDomain: 'td-a' } });
    const b = await startCluster({
      name: 'cluster-b',
      network: 'net-b',
      pki: pkiB.dir,
      flags: { 'trust-domain': 'td-b', 'peering-trust-bundles': `td-a=${ROOT_A}` },
      files: {
        'peers.yaml': [
          remote({
            name: 'wrong',
            cluster: 'cluster-x',
            network: 'net-x',
            port: wrong.port,
            annotations: { 'gateway.istio.io/trust-domain': 'td-a' },
          }),
          remote({
            name: 'right',
            cluster: 'cluster-y',
            network: 'net-y',
            port: right.port,
            annotations: { 'gateway.istio.io/trust-domain': 'td-a' },
          }),
          remote({
            name: 'no-roots',
            cluster: 'cluster-z',
            network: 'net-z',
            port: right.port,
            annotations: { 'gateway.istio.io/trust-domain': 'td-c' },
          }),
        ].join('---\n'),
      },
    });
    t.teardown(() => b.close());
    await until('right peer connected', () => b.cond('cluster-y', 'Connected') === 'True');
    await until('wrong peer refused at TLS', () => b.peer('cluster-x')?.lastTermination?.reason === 'tls');
    t.equal(b.cond('cluster-x', 'Connected'), 'False');
    t.equal(b.peer('cluster-x')!.services, 0);
    const noRoots = b.peering.status().find((s) => s.gateway === 'istio-gateways/no-roots');
    t.equal(noRoots!.conditions[0]!.reason, 'Invalid');
    t.match(noRoots!.conditions[0]!.message, /trust domain "td-c" has no roots configured \(peering\.trustBundles\)/);
    t.notOk(b.peer('cluster-z'), 'never dialled');
  },
);

t.test(
  'local trust domain unchanged with peer roots configured: a same-mesh peer under another intermediate imports',
  async (t) => {
    const a = await clusterA();
    t.teardown(() => a.close());
    const a2 = await startCluster({
      name: 'cluster-a2',
      network: 'net-a2',
      pki: pkiA.dir,
      flags: { 'trust-domain': 'td-a' },
      files: { 'ns.yaml': ns('shop'), 'peer.yaml': remote({ cluster: 'cluster-a', network: 'net-a', port: a.port }) },
    });
    t.teardown(() => a2.close());
    const z = a2.ztunnel();
    z.connect();
    await until('A2 imports web from A', () =>
      held(z, 'net-a/SplitHorizonWorkload/istio-gateways/istio-remote-peer-cluster-a/shop/web.shop.mesh.internal'),
    );
    t.equal(a2.cond('cluster-a', 'Connected'), 'True');
    // A local workload certificate from A's own CA still authenticates over mTLS (renewal path).
    const own = a.daemon.serving.current();
    const p = peerClient(t, a, own);
    await until('own identity admitted', () => p.held(TYPE_FEDERATED_SERVICE).get('shop/web'));
    t.equal(p.status, undefined);
  },
);

t.test(
  'the CA signs for the local trust domain only: a td-b peer certificate buys nothing, a local mTLS renewal works',
  async (t) => {
    const a = await clusterA();
    t.teardown(() => a.close());
    const csrDir = fs.mkdtempSync(path.join(pkiA.dir, 'csr-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        path.join(csrDir, 'k.pem'),
        '-subj',
        '/',
        '-out',
        path.join(csrDir, 'r.csr'),
      ],
      { stdio: 'ignore' },
    );
    const csr = fs.readFileSync(path.join(csrDir, 'r.csr'), 'utf8');
    const Req = a.daemon.wire.type('istio.v1.auth.IstioCertificateRequest');
    const Resp = a.daemon.wire.type('istio.v1.auth.IstioCertificateResponse');
    const sign = (cert: { certChainPem: string; keyPem: string }): Promise<{ code: number; chain?: string[] }> => {
      const creds = grpc.credentials.createFromSecureContext(
        tls.createSecureContext({
          ca: a.daemon.authority.rootBundlePem(),
          cert: cert.certChainPem,
          key: cert.keyPem,
          minVersion: 'TLSv1.3',
        }),
      );
      const client = new grpc.Client(`127.0.0.1:${a.port}`, creds, {
        'grpc.ssl_target_name_override': 'istiod.istio-system.svc',
      });
      t.teardown(() => client.close());
      return new Promise((resolve) => {
        client.makeUnaryRequest(
          '/istio.v1.auth.IstioCertificateService/CreateCertificate',
          (o: object) => Buffer.from(Req.encode(Req.fromObject(o)).finish()),
          (b: Buffer) => Resp.toObject(Resp.decode(b)) as { certChain: string[] },
          { csr, validityDuration: 3600 },
          new grpc.Metadata(),
          (err, v) => resolve(err ? { code: err.code } : { code: 0, chain: v!.certChain }),
        );
      });
    };
    const foreign = await sign(leafFrom(pkiB.dir, 'cluster-b', 'ca-peer-b', [`URI:${PEER_B}`]));
    t.equal(foreign.code, grpc.status.UNAUTHENTICATED, 'td-b peer identity: no certificate from our CA');
    const local = await sign(a.daemon.serving.current());
    t.equal(local.code, 0, 'local identity renews over mTLS');
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: local.chain![0]! }).toString();
    t.match(text, /URI:spiffe:\/\/td-a\/ns\/istio-system\/sa\/istiod/);
  },
);

t.test('one shared root, per-cluster trust domains: the root listed for the peer trust domain admits it', async (t) => {
  const a = await startCluster({
    name: 'cluster-a',
    network: 'net-a',
    pki: pkiA.dir,
    flags: { 'trust-domain': 'td-a', 'peering-trust-bundles': `td-c=${ROOT_A}` },
    files: GLOBAL_WEB,
  });
  t.teardown(() => a.close());
  const c = await startCluster({
    name: 'cluster-a2',
    network: 'net-c',
    pki: pkiA.dir,
    flags: { 'trust-domain': 'td-c', 'peering-trust-bundles': `td-a=${ROOT_A}` },
    files: {
      'ns.yaml': ns('shop'),
      'peer.yaml': remote({
        cluster: 'cluster-a',
        network: 'net-a',
        port: a.port,
        annotations: { 'gateway.istio.io/trust-domain': 'td-a' },
      }),
    },
  });
  t.teardown(() => c.close());
  const z = c.ztunnel();
  z.connect();
  await until('td-c cluster imports from td-a over the shared root', () =>
    held(z, 'net-a/SplitHorizonWorkload/istio-gateways/istio-remote-peer-cluster-a/shop/web.shop.mesh.internal'),
  );
  t.equal(c.cond('cluster-a', 'Connected'), 'True');
  // The shared root is not listed for td-b on A: a td-b identity under it is still refused.
  const other = peerClient(t, a, leafFrom(pkiA.dir, 'cluster-a2', 'td-b-shared', [`URI:${PEER_B}`]));
  await until('td-b under the shared root refused', () => other.status);
  t.equal(other.status!.code, 16);
});
