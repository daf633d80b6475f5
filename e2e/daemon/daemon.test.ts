import t from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as tls from 'node:tls';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../pkg/wire';
import { startDaemon } from '../harness/daemon-fixture';

const MESH = `
apiVersion: v1
kind: Namespace
metadata: { name: default, labels: { istio.io/dataplane-mode: ambient } }
---
apiVersion: v1
kind: Node
metadata: { name: node-1, labels: { topology.kubernetes.io/region: r1, topology.kubernetes.io/zone: z1 } }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec:
  clusterIP: 10.96.0.10
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: Pod
metadata: { name: web-1, namespace: default, labels: { app: web } }
spec: { nodeName: node-1, serviceAccountName: web, containers: [{ name: c, ports: [{ containerPort: 8080 }] }] }
status: { phase: Running, podIP: 10.0.0.5, conditions: [{ type: Ready, status: "True" }] }
`;

const podYaml = (ip: string): string => MESH.replace('10.0.0.5', ip);

t.test('a ztunnel gets the translated mesh from the file registry, and edits within a second', async (t) => {
  const f = await startDaemon({ files: { 'mesh.yaml': MESH } });
  t.teardown(() => f.close());
  const z = f.ztunnel();
  z.connect();
  await z.until(
    () => z.held(TYPE_ADDRESS).has('c1//Pod/default/web-1') && z.received.some((r) => r.typeUrl === TYPE_AUTHORIZATION),
    'initial sync',
  );
  const w = z.held(TYPE_ADDRESS).get('c1//Pod/default/web-1')!.value.workload as Record<string, unknown>;
  t.equal(w.namespace, 'default');
  t.equal(w.serviceAccount, 'web');
  t.equal(w.tunnelProtocol, 1, 'HBONE: namespace is ambient');
  t.same((w.addresses as Buffer[])[0], Buffer.from([10, 0, 0, 5]));
  t.same(Object.keys(w.services as object), ['default/web.default.svc.cluster.local']);
  t.ok(z.held(TYPE_ADDRESS).has('default/web.default.svc.cluster.local'), 'service named ns/hostname');
  f.write('mesh.yaml', podYaml('10.0.0.6'));
  await z.until(
    () => {
      const h = z.held(TYPE_ADDRESS).get('c1//Pod/default/web-1');
      return h && (h.value.workload as { addresses: Buffer[] }).addresses[0]![3] === 6;
    },
    'edit propagated',
    5000,
  );
  f.remove('mesh.yaml');
  await z.until(
    () =>
      !z.held(TYPE_ADDRESS).has('c1//Pod/default/web-1') &&
      !z.held(TYPE_ADDRESS).has('default/web.default.svc.cluster.local'),
    'deletion propagated',
    5000,
  );
  t.pass('add, edit and delete reached the ztunnel');
});

t.test('xDS callers: no credentials → Unauthenticated; token namespace must match node NAMESPACE', async (t) => {
  const f = await startDaemon({ files: { 'mesh.yaml': MESH } });
  t.teardown(() => f.close());
  const anon = f.ztunnel({ token: undefined });
  anon.connect();
  await anon.until(() => anon.status, 'refused');
  t.equal(anon.status!.code, grpc.status.UNAUTHENTICATED);
  t.equal(anon.status!.details, 'authentication failed', 'opaque');
  const forged = f.ztunnel({ token: f.token().slice(0, -4) + 'AAAA' });
  forged.connect();
  await forged.until(() => forged.status, 'refused');
  t.equal(forged.status!.code, grpc.status.UNAUTHENTICATED);
  const other = f.ztunnel({ token: f.token('other-ns', 'ztunnel'), podNamespace: 'istio-system' });
  other.connect();
  await other.until(() => other.status, 'refused');
  t.equal(other.status!.code, grpc.status.PERMISSION_DENIED);
});

t.test(
  'the CA on the same port signs an openssl CSR for the caller identity; openssl verifies the chain',
  async (t) => {
    const f = await startDaemon({ files: { 'mesh.yaml': MESH } });
    t.teardown(() => f.close());
    const dir = fs.mkdtempSync(path.join(f.dir, 'csr-'));
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
        path.join(dir, 'k.pem'),
        '-subj',
        '/',
        '-addext',
        'subjectAltName=URI:spiffe://evil/ns/x/sa/y',
        '-out',
        path.join(dir, 'r.csr'),
      ],
      { stdio: 'ignore' },
    );
    const csr = fs.readFileSync(path.join(dir, 'r.csr'), 'utf8');
    const root = f.daemon.authority.rootBundlePem();
    const creds = grpc.credentials.createFromSecureContext(
      tls.createSecureContext({ ca: root, minVersion: 'TLSv1.3' }),
    );
    const client = new grpc.Client(`127.0.0.1:${f.daemon.grpcPort}`, creds, {
      'grpc.ssl_target_name_override': 'istiod.istio-system.svc',
    });
    t.teardown(() => client.close());
    const Req = f.daemon.wire.type('istio.v1.auth.IstioCertificateRequest');
    const Resp = f.daemon.wire.type('istio.v1.auth.IstioCertificateResponse');
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${f.token('default', 'web')}`);
    const resp = await new Promise<{ certChain: string[] }>((resolve, reject) =>
      client.makeUnaryRequest(
        '/istio.v1.auth.IstioCertificateService/CreateCertificate',
        (o: object) => Buffer.from(Req.encode(Req.fromObject(o)).finish()),
        (b: Buffer) => Resp.toObject(Resp.decode(b)) as { certChain: string[] },
        { csr, validityDuration: 3600 },
        md,
        (err, v) => (err ? reject(err) : resolve(v!)),
      ),
    );
    t.ok(resp.certChain.length >= 2, 'leaf + root bundle');
    fs.writeFileSync(path.join(dir, 'leaf.pem'), resp.certChain[0]!);
    fs.writeFileSync(path.join(dir, 'root.pem'), resp.certChain[resp.certChain.length - 1]!);
    fs.writeFileSync(
      path.join(dir, 'mid.pem'),
      resp.certChain.slice(1, -1).join('') || resp.certChain[resp.certChain.length - 1]!,
    );
    const verify = execFileSync('openssl', [
      'verify',
      '-CAfile',
      path.join(dir, 'root.pem'),
      '-untrusted',
      path.join(dir, 'mid.pem'),
      path.join(dir, 'leaf.pem'),
    ]).toString();
    t.match(verify, /OK/);
    const text = execFileSync('openssl', ['x509', '-noout', '-text', '-in', path.join(dir, 'leaf.pem')]).toString();
    t.match(text, /URI:spiffe:\/\/cluster.local\/ns\/default\/sa\/web/, 'identity from the token, not the CSR');
    t.notMatch(text, /spiffe:\/\/evil/);
  },
);
