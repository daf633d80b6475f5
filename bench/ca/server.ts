// Hosts the CA service on the daemon's own gRPC TLS server (pkg/transport, the
// same code that serves port 15012), alone in this process so the scenario can
// measure its CPU. Prints one JSON line {port, root, token} when ready.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as promClient from 'prom-client';
import { BootstrapIssuer, CompositeAuthenticator, TokenAuthenticator } from '../../pkg/auth';
import { Authority, ServingIdentity } from '../../pkg/ca';
import { createCaService } from '../../pkg/caserver';
import { GrpcServer, RotatingServerCredentials } from '../../pkg/transport';
import { createSilentLogger } from '../../pkg/log';
import { runServer, serveUntilStopped } from './serve';

async function main(): Promise<void> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ca-'));
  const logger = createSilentLogger();
  const caKey = process.argv[2] === 'ec-p256' ? 'ec-p256' : 'rsa-2048';
  // BENCH_CA_SIGNING_THREADS: Authority's signing threads (default: its own, from the cores).
  const threads = process.env.BENCH_CA_SIGNING_THREADS;
  const authority = Authority.open({
    stateDir,
    trustDomain: 'cluster.local',
    selfSignedKeyAlgorithm: caKey,
    logger,
    signingThreads: threads ? Number(threads) : undefined,
  });
  const bootstrap = BootstrapIssuer.open({ stateDir, trustDomain: 'cluster.local' });
  const authenticator = new CompositeAuthenticator({
    token: new TokenAuthenticator({ issuers: [bootstrap.trustedIssuer()], trustDomain: 'cluster.local' }),
  });
  // Shared-mode ztunnel: every impersonated identity is placed on the caller's node.
  const onNode = new Set(Array.from({ length: 100 }, (_, i) => `spiffe://cluster.local/ns/ns${i % 10}/sa/sa${i}`));
  const svc = createCaService({
    authority,
    authenticator,
    placement: { identitiesOnNode: () => onNode },
    logger,
    registry: new promClient.Registry(),
  });
  const identity = new ServingIdentity({ authority, request: { ipAddresses: ['127.0.0.1'] }, logger });
  await identity.start();
  const cert = identity.current();
  const credentials = new RotatingServerCredentials({
    certChainPem: cert.certChainPem,
    keyPem: cert.keyPem,
    trustBundlePem: authority.rootBundlePem(),
  });
  const server = new GrpcServer({
    listen: '127.0.0.1:0',
    credentials,
    logger,
    maxReceiveBytes: 4 * 1024 * 1024,
    maxSessionMemoryMb: 64,
  });
  server.addService(svc);
  const port = await server.start();
  const token = bootstrap.createBootstrapToken({
    namespace: 'istio-system',
    serviceAccount: 'ztunnel',
    node: 'node-1',
    ttlSeconds: 3600,
  });
  process.stdout.write(
    JSON.stringify({ port, root: authority.rootBundlePem(), token, identities: [...onNode] }) + '\n',
  );
  serveUntilStopped(() => {
    server.destroy();
    void identity.close();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });
}

runServer('bench ca server', main);
