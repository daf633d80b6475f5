import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import * as promClient from 'prom-client';
import { BootstrapIssuer, CompositeAuthenticator, MtlsAuthenticator, TokenAuthenticator } from '../auth';
import { Authority, ServingIdentity } from '../ca';
import { createSilentLogger } from '../log';
import { GrpcServer, RotatingServerCredentials } from '../transport';
import { CA_SERVICE_PATH, caServiceClient, createCaService } from './index';
import type { CaRequest, CaResponse } from './index';

const OPENSSL = '/usr/bin/openssl';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'caserver-test-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const logger = createSilentLogger();

function ossl(args: string[]): string {
  return execFileSync(OPENSSL, args, { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
}
let n = 0;
function csr(): { csr: string; keyFile: string } {
  const name = `k${n++}`;
  ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`]);
  ossl([
    'req',
    '-new',
    '-key',
    `${name}.key`,
    '-subj',
    '/',
    '-addext',
    'subjectAltName=critical,URI:spiffe://cluster.local/ns/x/sa/y',
    '-out',
    `${name}.csr`,
  ]);
  return { csr: fs.readFileSync(path.join(dir, `${name}.csr`), 'utf8'), keyFile: path.join(dir, `${name}.key`) };
}
function write(name: string, text: string): string {
  fs.writeFileSync(path.join(dir, name), text);
  return path.join(dir, name);
}

type CaClient = grpc.Client & {
  CreateCertificate(req: CaRequest, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: CaResponse) => void): void;
};

t.test('CreateCertificate over gRPC/TLS 1.3 with the Authority’s own serving cert', async (t) => {
  const stateDir = path.join(dir, 'state');
  const authority = Authority.open({ stateDir, trustDomain: 'cluster.local', logger });
  const bootstrap = BootstrapIssuer.open({ stateDir, trustDomain: 'cluster.local' });
  const authenticator = new CompositeAuthenticator({
    mtls: new MtlsAuthenticator({ trustDomains: ['cluster.local'] }),
    token: new TokenAuthenticator({ issuers: [bootstrap.trustedIssuer()], trustDomain: 'cluster.local' }),
  });
  const placement = {
    identitiesOnNode: (node: string) => new Set(node === 'node-a' ? ['spiffe://cluster.local/ns/default/sa/web'] : []),
  };
  const registry = new promClient.Registry();
  const svc = createCaService({ authority, authenticator, placement, logger, registry });

  const identity = new ServingIdentity({ authority, request: { ipAddresses: ['127.0.0.1'] }, logger });
  await identity.start();
  t.teardown(() => identity.close());
  // The daemon's own gRPC TLS server, wired to the serving identity as the daemon wires it (rotation included).
  const material = () => ({
    certChainPem: identity.current().certChainPem,
    keyPem: identity.current().keyPem,
    trustBundlePem: authority.rootBundlePem(),
  });
  const creds = new RotatingServerCredentials(material());
  const onRotated = (): void => creds.update(material());
  identity.on('rotated', onRotated);
  t.teardown(() => void identity.off('rotated', onRotated));
  const server = new GrpcServer({
    listen: '127.0.0.1:0',
    credentials: creds,
    logger,
    maxReceiveBytes: 4 * 1024 * 1024,
    maxSessionMemoryMb: 64,
  });
  server.addService(svc);
  const port = await server.start();
  t.teardown(() => server.destroy());

  const root = authority.rootBundlePem();
  const Client = caServiceClient();
  const clients: grpc.Client[] = [];
  t.teardown(() => clients.forEach((c) => c.close()));
  const connect = (chCreds = grpc.credentials.createSsl(Buffer.from(root))): CaClient => {
    const c = new Client(`127.0.0.1:${port}`, chCreds) as unknown as CaClient;
    clients.push(c);
    return c;
  };
  const call = (c: CaClient, req: CaRequest, token?: string) =>
    new Promise<{ err: grpc.ServiceError | null; res?: CaResponse }>((resolve) => {
      const md = new grpc.Metadata();
      if (token !== undefined) md.set('authorization', `Bearer ${token}`);
      md.set('clusterid', 'Kubernetes');
      c.CreateCertificate(req, md, (err, res) => resolve({ err, res }));
    });

  const client = connect();
  const webToken = bootstrap.createBootstrapToken({ namespace: 'default', serviceAccount: 'web', ttlSeconds: 600 });
  const first = csr();
  const ok = await call(client, { csr: first.csr, validity_duration: 3600 }, webToken);
  t.equal(ok.err, null, 'issued');
  const chain = ok.res!.cert_chain;
  t.equal(chain.length, 2, '[leaf, root]');
  for (const pem of chain) t.ok(pem.endsWith('\n'));
  t.equal(chain[1], root);
  const leafFile = write('leaf.pem', chain[0]!);
  t.match(ossl(['verify', '-CAfile', write('root.pem', chain[1]!), leafFile]), /OK/, 'openssl verifies the chain');
  t.match(
    ossl(['x509', '-in', leafFile, '-noout', '-text']),
    /Subject Alternative Name: critical\s+URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/web\s/,
    'SAN from the token, not the CSR',
  );

  // ztunnel in shared mode: impersonation for a workload on its own node only.
  const zt = bootstrap.createBootstrapToken({
    namespace: 'istio-system',
    serviceAccount: 'ztunnel',
    node: 'node-a',
    ttlSeconds: 600,
  });
  const impersonate = (id: string) => ({
    csr: csr().csr,
    validity_duration: '86400',
    metadata: { fields: { ImpersonatedIdentity: { stringValue: id, kind: 'stringValue' } } },
  });
  const imp = await call(client, impersonate('spiffe://cluster.local/ns/default/sa/web'), zt);
  t.equal(imp.err, null, 'own node ok');
  t.match(
    ossl(['x509', '-in', write('imp.pem', imp.res!.cert_chain[0]!), '-noout', '-text']),
    /URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/web\s/,
  );
  const other = await call(client, impersonate('spiffe://cluster.local/ns/default/sa/db'), zt);
  t.equal(other.err?.code, grpc.status.PERMISSION_DENIED, 'other node refused');
  t.equal(other.err?.details, 'permission denied', 'opaque');
  const untrusted = await call(client, impersonate('spiffe://cluster.local/ns/default/sa/db'), webToken);
  t.equal(untrusted.err?.code, grpc.status.PERMISSION_DENIED, 'untrusted caller refused');

  // Authentication failures are opaque.
  const none = await call(client, { csr: csr().csr, validity_duration: 0 });
  t.equal(none.err?.code, grpc.status.UNAUTHENTICATED);
  t.equal(none.err?.details, 'authentication failed');
  const [h, p, s] = webToken.split('.') as [string, string, string];
  const forged = Buffer.from(
    JSON.stringify({
      ...JSON.parse(Buffer.from(p, 'base64url').toString()),
      sub: 'system:serviceaccount:istio-system:ztunnel',
    }),
  ).toString('base64url');
  const tampered = await call(client, { csr: csr().csr, validity_duration: 0 }, `${h}.${forged}.${s}`);
  t.equal(tampered.err?.code, grpc.status.UNAUTHENTICATED);
  t.equal(tampered.err?.details, 'authentication failed');

  // Bad CSRs and TTLs: InvalidArgument, and the server keeps serving.
  for (const [name, bad] of [
    ['not PEM', 'hello'],
    ['wrong PEM type', chain[0]!],
    ['1 MB of noise', crypto.randomBytes(1024 * 1024).toString('base64')],
  ] as const) {
    const r = await call(client, { csr: bad, validity_duration: 0 }, webToken);
    t.equal(r.err?.code, grpc.status.INVALID_ARGUMENT, name);
  }
  const der = Buffer.from(first.csr.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  der[der.length - 2]! ^= 0xff;
  const badSig = await call(
    client,
    {
      csr: `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`,
      validity_duration: 0,
    },
    webToken,
  );
  t.equal(badSig.err?.code, grpc.status.INVALID_ARGUMENT, 'bad signature');
  const long = await call(client, { csr: csr().csr, validity_duration: 91 * 86400 }, webToken);
  t.equal(long.err?.code, grpc.status.INVALID_ARGUMENT, 'ttl above 90 days');
  t.equal((await call(client, { csr: csr().csr, validity_duration: 60 }, webToken)).err, null, 'still serving');

  // Bytes that are not an IstioCertificateRequest (wire type 7 does not exist):
  // decoding fails, grpc-js answers INTERNAL, and the server keeps serving.
  for (const [name, bytes] of [['wire type 7', [0x0f]]] as const) {
    const raw = await new Promise<grpc.ServiceError | null>((resolve) => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${webToken}`);
      client.makeUnaryRequest(
        CA_SERVICE_PATH,
        () => Buffer.from(bytes),
        (b: Buffer) => b,
        {},
        md,
        (e) => resolve(e),
      );
    });
    t.equal(raw?.code, grpc.status.INTERNAL, `undecodable request (${name})`);
  }
  t.equal(
    (await call(client, { csr: csr().csr, validity_duration: 60 }, webToken)).err,
    null,
    'still serving after undecodable requests',
  );

  // Renewal over mTLS with the certificate just issued (no token).
  const mtlsClient = connect(
    grpc.credentials.createSsl(Buffer.from(root), fs.readFileSync(first.keyFile), Buffer.from(chain[0]!)),
  );
  const renewed = await call(mtlsClient, { csr: csr().csr, validity_duration: 60 });
  t.equal(renewed.err, null, 'mTLS renewal');
  t.match(
    ossl(['x509', '-in', write('renewed.pem', renewed.res!.cert_chain[0]!), '-noout', '-text']),
    /URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/web\s/,
  );

  // The listener speaks TLS 1.3 + h2 and presents an end-entity cert with the IP SAN.
  const probe = () =>
    new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, ca: root, ALPNProtocols: ['h2'], servername: '' }, () =>
        resolve(s),
      );
      s.on('error', reject);
    });
  const s1 = await probe();
  t.equal(s1.getProtocol(), 'TLSv1.3');
  t.equal(s1.alpnProtocol, 'h2');
  const serial1 = s1.getPeerCertificate().serialNumber;
  s1.destroy();
  await t.rejects(
    new Promise<void>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, ca: root, maxVersion: 'TLSv1.2', servername: '' }, () => {
        s.destroy();
        resolve();
      });
      s.on('error', reject);
    }),
    'TLS 1.2 refused',
  );

  // Rotation: new handshakes get the new cert, the existing channel keeps working.
  identity.rotate();
  const s2 = await probe();
  t.not(s2.getPeerCertificate().serialNumber, serial1, 'new handshakes see the rotated cert');
  s2.destroy();
  t.equal(
    (await call(client, { csr: csr().csr, validity_duration: 60 }, webToken)).err,
    null,
    'existing channel unaffected by rotation',
  );

  // Metrics, checked by promtool as an independent parser.
  const text = await registry.metrics();
  t.match(text, /citadel_server_csr_count \d+/);
  t.match(text, /citadel_server_success_cert_issuance_count 6\n/);
  t.match(text, /citadel_server_authentication_failure_count 2\n/);
  t.match(text, /ambientd_ca_refusals_total\{reason="auth.impersonation_not_on_node"\} 1/);
  t.match(text, /ambientd_ca_refusals_total\{reason="x509.csr_too_large"\} 1/);
  t.match(text, /citadel_server_root_cert_expiry_timestamp \d+/);
  t.notMatch(text, /PRIVATE/);
  // promtool exits 3 for lint findings, 1 for a parse error. The only findings allowed
  // are the istio-compatible citadel_* counter names (istiod exports them without _total).
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  t.ok(lint.status === 0 || lint.status === 3, `promtool parses the exposition (exit ${lint.status})`);
  const findings = `${lint.stdout}${lint.stderr}`.split('\n').filter((l) => l.trim() !== '');
  t.same(
    findings.filter((l) => !/^citadel_server_\w+_count /.test(l)),
    [],
    'no lint findings beyond the istio names',
  );
});
