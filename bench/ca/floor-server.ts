// The transport floor for the CA scenario: a bare node:http2 TLS server that
// answers CreateCertificate with a fixed, pre-encoded response of the real
// size. Its request path runs no ambientd code (the certificate and response
// are made once at start-up), so its CPU per request is what HTTP/2 + TLS +
// gRPC framing cost on this machine. Prints {port, root, token, identities}.
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import { Authority } from '../../pkg/ca';
import { createSilentLogger } from '../../pkg/log';

/** IstioCertificateResponse { repeated string cert_chain = 1; } in protobuf wire format, as one gRPC message. */
function grpcResponse(chain: string[]): Buffer {
  const fields = chain.map((s) => {
    const b = Buffer.from(s);
    const len: number[] = [];
    for (let n = b.length; ; n >>>= 7) {
      if (n < 0x80) {
        len.push(n);
        break;
      }
      len.push((n & 0x7f) | 0x80);
    }
    return Buffer.concat([Buffer.from([0x0a, ...len]), b]);
  });
  const msg = Buffer.concat(fields);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(msg.length, 1);
  return Buffer.concat([prefix, msg]);
}

function main(): void {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ca-floor-'));
  const authority = Authority.open({ stateDir, trustDomain: 'cluster.local', logger: createSilentLogger() });
  const serving = authority.issueServingCert({ ipAddresses: ['127.0.0.1'] });
  const leaf = authority.issueServingCert({ uri: 'spiffe://cluster.local/ns/ns0/sa/sa0' }).certChainPem;
  const body = grpcResponse([leaf, authority.rootBundlePem()]);
  const server = http2.createSecureServer({ cert: serving.certChainPem, key: serving.keyPem, allowHTTP1: false });
  server.on('stream', (stream) => {
    let size = 0;
    stream.on('data', (c: Buffer) => (size += c.length));
    stream.on('end', () => {
      if (size < 5) return void stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(body);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const port = (server.address() as { port: number }).port;
    const identities = Array.from({ length: 100 }, (_, i) => `spiffe://cluster.local/ns/ns${i % 10}/sa/sa${i}`);
    process.stdout.write(JSON.stringify({ port, root: authority.rootBundlePem(), token: 'unused', identities }) + '\n');
  });
  const stop = () => {
    server.close();
    fs.rmSync(stateDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}

main();
