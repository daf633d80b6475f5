import type * as grpc from '@grpc/grpc-js';
import { RotatingServerCredentials } from '../../pkg/transport';
import { createTestPki, type TestPki } from './pki';

/** Serving credentials for a test GrpcServer on 127.0.0.1 ("localhost"), from a PKI made for this test. */
export function testServerCredentials(t: { teardown(fn: () => unknown): void }): {
  pki: TestPki;
  credentials: RotatingServerCredentials;
} {
  const pki = createTestPki();
  t.teardown(() => pki.cleanup());
  const leaf = pki.leaf('server', ['DNS:localhost', 'IP:127.0.0.1']);
  const credentials = new RotatingServerCredentials({
    certChainPem: leaf.certPem,
    keyPem: leaf.keyPem,
    trustBundlePem: pki.rootCertPem,
  });
  return { pki, credentials };
}

const raw = (b: Buffer): Buffer => b;

/** A method on raw bytes (the handler decodes nothing): bidi-streaming, or unary with `stream` false. */
export function rawMethod(path: string, stream = true): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: stream,
    responseStream: stream,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  };
}

/** Request headers of a gRPC call to `path` (gRPC over HTTP/2: POST, application/grpc, te: trailers), plus `extra`. */
export function grpcRequestHeaders(path: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...extra };
}
