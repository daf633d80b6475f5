import type { SecureContextOptions } from 'node:tls';

/**
 * ztunnel speaks TLS 1.3 only, with the two AES-GCM suites
 * (ztunnel src/tls/lib.rs); peers are ambientd daemons with the same stack.
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
 * Serving key/cert/bundle for the single gRPC TLS port. One port serves
 * ztunnel (no client certificate) and peers/renewals (mTLS): the server
 * *requests* a certificate but does not require one, exposes a peer
 * certificate only when it verified against the trust bundle, and the
 * authenticator decides per call. update() swaps key/cert/bundle for new
 * handshakes without touching live connections (renewal without dropping streams).
 */
export class RotatingServerCredentials {
  private current: SecureContextOptions;
  private readonly listeners = new Set<(o: SecureContextOptions) => void>();

  constructor(material: ServingMaterial) {
    this.current = contextOptions(material);
  }

  secureContextOptions(): SecureContextOptions {
    return this.current;
  }

  /** The server subscribes to renewals; returns the unsubscribe. */
  onUpdate(fn: (o: SecureContextOptions) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  update(material: ServingMaterial): void {
    this.current = contextOptions(material);
    for (const fn of this.listeners) fn(this.current);
  }
}
