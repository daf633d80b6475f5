// The CA scenario's middle rung, between the bare floor (floor-server.ts) and the real CA (server.ts): ambientd's
// own gRPC TLS server (pkg/transport, as on port 15012) and the CA service's protobuf codec, with a handler that
// answers every CreateCertificate with a chain made once at start-up: no token check, no CSR, no signature, no
// metrics. Its CPU per request minus the floor's is what our transport adds; the real server minus this one is
// what the CA service adds (token check, CSR parse and verify, certificate build and signature, metrics).
// Prints {port, root, token, identities} like the other servers.
// BENCH_CA_TRANSPORT_CRYPTO=1 adds the CA's crypto to each answer — parse and verify the request's CSR
// (pkg/x509 parseCsr: fresh-key import + verify) and one CA signature over a leaf-sized TBS, both inline (as for a
// request that arrives alone; Authority.sign hands overlapping ones to its signing threads) — so
// (this − the canned answer) is the fresh-key crypto as it costs in place, between requests, and
// (server.js − this) is everything else the CA service does.
import type * as grpc from '@grpc/grpc-js';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Authority, ServingIdentity } from '../../pkg/ca';
import { loadCaService } from '../../pkg/caserver';
import type { CaResponse } from '../../pkg/caserver';
import { createSilentLogger } from '../../pkg/log';
import { createSigner, generateKeyPair, parseCsr } from '../../pkg/x509';
import { runServer, serveUntilStopped } from './serve';
import { GrpcServer, RotatingServerCredentials } from '../../pkg/transport';

async function main(): Promise<void> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ca-transport-'));
  const logger = createSilentLogger();
  const caKey = process.argv[2] === 'ec-p256' ? 'ec-p256' : 'rsa-2048';
  const authority = Authority.open({ stateDir, trustDomain: 'cluster.local', selfSignedKeyAlgorithm: caKey, logger });
  const identity = new ServingIdentity({ authority, request: { ipAddresses: ['127.0.0.1'] }, logger });
  await identity.start();
  const cert = identity.current();
  const leaf = authority.issueServingCert({ uri: 'spiffe://cluster.local/ns/ns0/sa/sa0' }).certChainPem;
  const response: CaResponse = { cert_chain: [leaf, authority.rootBundlePem()] };
  const withCrypto = process.env.BENCH_CA_TRANSPORT_CRYPTO === '1';
  const signer = createSigner(generateKeyPair(caKey).privateKey);
  const tbs = crypto.randomBytes(650); // a P-256 leaf's TBSCertificate is ~600-700 bytes
  const caCrypto = async (csr: string): Promise<void> => {
    await parseCsr(csr);
    signer.sign(tbs);
  };
  const CreateCertificate: grpc.handleUnaryCall<{ csr: string }, CaResponse> = (call, callback) => {
    if (!withCrypto) {
      callback(null, response);
      return;
    }
    caCrypto(call.request.csr).then(
      () => callback(null, response),
      (e: unknown) => callback(e instanceof Error ? e : new Error(String(e))),
    );
  };
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
  server.addService({ definition: loadCaService().definition, implementation: { CreateCertificate } });
  const port = await server.start();
  const identities = Array.from({ length: 100 }, (_, i) => `spiffe://cluster.local/ns/ns${i % 10}/sa/sa${i}`);
  process.stdout.write(JSON.stringify({ port, root: authority.rootBundlePem(), token: 'unused', identities }) + '\n');
  serveUntilStopped(() => {
    server.destroy();
    void identity.close();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });
}

runServer('bench ca transport server', main);
