import * as grpc from '@grpc/grpc-js';
import type { SecureContextOptions } from 'node:tls';
import type { ServingCert, ServingIdentity } from '../ca';

export interface ServingCredentialsOptions {
  /** ztunnel speaks TLS 1.3 only unless TLS12_ENABLED (ztunnel-protocol.md §4.1); default false. */
  allowTls12?: boolean;
  /**
   * Ask for (but do not require) a client certificate, verified against the
   * root bundle, so renewal over mTLS works; ztunnel sends none and still connects.
   * grpc-js exposes the peer certificate to handlers only when it verified.
   */
  requestClientCert?: boolean;
}

// AES-GCM suites as ztunnel offers them (no ChaCha20); TLS 1.2 fallbacks only when enabled.
const TLS13_CIPHERS = 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256';
const TLS12_CIPHERS = 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256';

function contextOptions(cert: ServingCert, opts: ServingCredentialsOptions): SecureContextOptions {
  return {
    cert: cert.certChainPem,
    key: cert.keyPem,
    ca: cert.rootBundlePem,
    minVersion: opts.allowTls12 ? 'TLSv1.2' : 'TLSv1.3',
    ciphers: opts.allowTls12 ? `${TLS13_CIPHERS}:${TLS12_CIPHERS}` : TLS13_CIPHERS,
  };
}

/** ServerCredentials whose certificate can be swapped: new handshakes use it, live HTTP/2 sessions continue. */
class RotatingServerCredentials extends grpc.ServerCredentials {
  rotate(options: SecureContextOptions): void {
    this.updateSecureContextOptions(options);
  }
  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

/**
 * gRPC server credentials backed by the daemon's ServingIdentity. Follows
 * 'rotated' events; call the returned dispose() when the server closes.
 */
export function servingCredentials(identity: ServingIdentity, opts: ServingCredentialsOptions = {}): { credentials: grpc.ServerCredentials; dispose(): void } {
  const ctx = contextOptions(identity.current(), opts);
  const credentials = new RotatingServerCredentials(
    { requestCert: opts.requestClientCert ?? false, rejectUnauthorized: false, minVersion: ctx.minVersion!, ciphers: ctx.ciphers! },
    ctx,
  );
  const onRotated = (cert: ServingCert) => credentials.rotate(contextOptions(cert, opts));
  identity.on('rotated', onRotated);
  return { credentials, dispose: () => identity.off('rotated', onRotated) };
}
