import t from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import * as promClient from 'prom-client';
import { BootstrapIssuer, CompositeAuthenticator, MtlsAuthenticator, TokenAuthenticator } from '../auth';
import { Authority, ServingIdentity } from '../ca';
import { waitFor } from '../lifecycle';
import { createRootLogger } from '../log';
import { GrpcServer, RotatingServerCredentials } from '../transport';
import { caServiceClient, createCaService } from './index';
import type { CaRequest, CaResponse } from './index';

type CaClient = grpc.Client & {
  CreateCertificate(req: CaRequest, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: CaResponse) => void): void;
};

/**
 * What the CA writes to its log when the caller's credentials and its request
 * disagree: a CSR asking for another identity (issued anyway, as istiod does,
 * with a warning naming both) and a token signed by a key the daemon does not
 * hold (refused opaquely, with a hint naming the key and the state dir).
 */
t.test('CA log: identity mismatch warning and unknown-key hint; the caller sees only the opaque refusal', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ca-idlog-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const logs: Record<string, unknown>[] = [];
  const sink = new PassThrough();
  let buf = '';
  sink.on('data', (c: Buffer) => {
    buf += c.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) if (l) logs.push(JSON.parse(l) as Record<string, unknown>);
  });
  const logger = createRootLogger({ level: 'info', destination: sink });
  const stateDir = path.join(dir, 'state');
  const authority = Authority.open({
    stateDir,
    trustDomain: 'cluster.local',
    logger,
    selfSignedKeyAlgorithm: 'ec-p256',
  });
  const bootstrap = BootstrapIssuer.open({ stateDir, trustDomain: 'cluster.local' });
  const authenticator = new CompositeAuthenticator({
    mtls: new MtlsAuthenticator({ trustDomains: ['cluster.local'] }),
    token: new TokenAuthenticator({ issuers: [bootstrap.trustedIssuer()], trustDomain: 'cluster.local' }),
  });
  const svc = createCaService({
    authority,
    authenticator,
    placement: { identitiesOnNode: () => new Set() },
    logger,
    registry: new promClient.Registry(),
  });
  const identity = new ServingIdentity({ authority, request: { ipAddresses: ['127.0.0.1'] }, logger });
  await identity.start();
  t.teardown(() => identity.close());
  const creds = new RotatingServerCredentials({
    certChainPem: identity.current().certChainPem,
    keyPem: identity.current().keyPem,
    trustBundlePem: authority.rootBundlePem(),
  });
  const server = new GrpcServer({
    listen: '127.0.0.1:0',
    credentials: creds,
    logger,
    maxReceiveBytes: 1 << 20,
    maxSessionMemoryMb: 16,
  });
  server.addService(svc);
  const port = await server.start();
  t.teardown(() => server.destroy());
  const client = new (caServiceClient())(
    `127.0.0.1:${port}`,
    grpc.credentials.createSsl(Buffer.from(authority.rootBundlePem())),
  ) as unknown as CaClient;
  t.teardown(() => client.close());

  let n = 0;
  const csrFor = (uri: string): string => {
    const name = path.join(dir, `k${n++}`);
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
        `${name}.key`,
        '-subj',
        '/',
        '-addext',
        `subjectAltName=critical,URI:${uri}`,
        '-out',
        `${name}.csr`,
      ],
      { stdio: 'ignore' },
    );
    return fs.readFileSync(`${name}.csr`, 'utf8');
  };
  const call = (csr: string, token: string) =>
    new Promise<{ err: grpc.ServiceError | null; res?: CaResponse }>((resolve) => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${token}`);
      client.CreateCertificate({ csr, validity_duration: 3600 }, md, (err, res) => resolve({ err, res }));
    });
  const frontend = 'spiffe://cluster.local/ns/bookstore/sa/frontend';
  const ztunnel = 'spiffe://cluster.local/ns/istio-system/sa/ztunnel';
  const mismatch = (): Record<string, unknown>[] => logs.filter((l) => /^CSR asks for /.test(String(l.msg)));

  // 1. The workload's own token: the CSR's identity is the one issued, nothing to warn about.
  const own = await call(
    csrFor(frontend),
    bootstrap.createBootstrapToken({ namespace: 'bookstore', serviceAccount: 'frontend', ttlSeconds: 600 }),
  );
  t.equal(own.err, null, 'issued');
  // 2. A dedicated-mode ztunnel started with the node token: issued the caller's identity, with a warning.
  const node = await call(
    csrFor(frontend),
    bootstrap.createBootstrapToken({ namespace: 'istio-system', serviceAccount: 'ztunnel', ttlSeconds: 600 }),
  );
  t.equal(node.err, null, "issued (istiod issues the caller's identity too)");
  t.match(
    execFileSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName'], {
      input: node.res!.cert_chain[0],
    }).toString(),
    `URI:${ztunnel}`,
    "the certificate carries the caller's identity, not the requested one",
  );
  await waitFor(() => mismatch().length === 1, { what: 'the mismatch warning' });
  const w = mismatch()[0]!;
  t.equal(w.level, 40, 'warn level');
  t.match(
    String(w.msg),
    `CSR asks for ${frontend} but the caller's credentials name ${ztunnel}: issued ${ztunnel}`,
    'names both identities',
  );
  t.same(w.requested, [frontend]);
  t.equal(w.issued, ztunnel);
  t.equal(w.component, 'ca-server');

  // 3. A token from another state directory (another issuer key): opaque refusal, the log names both keys and the dir.
  const other = BootstrapIssuer.open({ stateDir: path.join(dir, 'elsewhere'), trustDomain: 'cluster.local' });
  const foreign = await call(
    csrFor(frontend),
    other.createBootstrapToken({ namespace: 'bookstore', serviceAccount: 'frontend', ttlSeconds: 600 }),
  );
  t.equal(foreign.err?.code, grpc.status.UNAUTHENTICATED);
  t.equal(foreign.err?.details, 'authentication failed', 'opaque to the caller: no key id, no path');
  await waitFor(() => logs.some((l) => l.reason === 'auth.unknown_kid'), { what: 'the refusal log line' });
  const refusal = logs.find((l) => l.reason === 'auth.unknown_kid')!;
  t.match(
    String(refusal.detail),
    `no ES256 key ${other.kid} for ambientd://cluster.local/bootstrap`,
    "the token's key id",
  );
  t.match(
    String(refusal.detail),
    `signed by key ${bootstrap.kid} in ${path.join(stateDir, 'bootstrap', 'issuer-key.pem')}`,
    'the key it expected',
  );
  t.match(String(refusal.detail), `ambientd token create --state-dir ${stateDir}`, 'how to mint one it accepts');
  t.equal(mismatch().length, 1, 'a refused call never logs a mismatch');
});
