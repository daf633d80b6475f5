import * as grpc from '@grpc/grpc-js';
import type { SecureContextOptions } from 'node:tls';

/**
 * ztunnel speaks TLS 1.3 only, with the two AES-GCM suites
 * (ztunnel-protocol.md §4.1); peers are ambientd daemons with the same stack.
 */
export const TLS13_CIPHERS = 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256';

export interface ServingMaterial {
  /** PEM chain: leaf first. */
  certChainPem: string;
  keyPem: string;
  /** PEM roots that client certificates (peers, renewing workloads) may chain to. */
  trustBundlePem: string;
}

function contextOptions(m: ServingMaterial): SecureContextOptions {
  return {
    cert: m.certChainPem,
    key: m.keyPem,
    ca: m.trustBundlePem || undefined,
    minVersion: 'TLSv1.3',
    ciphers: TLS13_CIPHERS,
  };
}

/**
 * Server credentials for the single gRPC TLS port. One port serves ztunnel (no
 * client certificate) and peers/renewals (mTLS): the server *requests* a
 * certificate but does not require one; grpc-js's getAuthContext() reports a
 * peer certificate only when it verified against the trust bundle, and the
 * authenticator decides per call. update() swaps key/cert/bundle for new
 * handshakes without touching live connections (renewal without dropping streams).
 */
export class RotatingServerCredentials extends grpc.ServerCredentials {
  constructor(material: ServingMaterial) {
    super(
      {
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.3',
        ciphers: TLS13_CIPHERS,
        ALPNProtocols: ['h2'],
      },
      contextOptions(material),
    );
  }

  update(material: ServingMaterial): void {
    this.updateSecureContextOptions(contextOptions(material));
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}
