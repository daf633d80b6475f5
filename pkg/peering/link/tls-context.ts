import * as tls from 'node:tls';
import { TLS13_CIPHERS } from '../../transport';

/** The daemon's client identity for dialling peers (and its mesh trust bundle). */
export interface PeerIdentityMaterial {
  certChainPem: string;
  keyPem: string;
  trustBundlePem: string;
}

/**
 * One TLS SecureContext per (roots, identity) generation, shared by every peer
 * link that uses it. A context parses the whole root bundle and the key into
 * an OpenSSL SSL_CTX (~38 KiB each, measured); building one per peer per
 * connect costs N of them. When the identity rotates or the roots change, the
 * next connect gets a new context and the old generation is dropped (live
 * connections keep theirs until they end).
 */
export class SecureContexts {
  private gen?: { cert: string; key: string; contexts: Map<string, tls.SecureContext> };
  created = 0;

  /**
   * Context for dialling a peer: `roots` (its trust domain's bundle) as the only CAs, `id` as our client certificate.
   */
  get(roots: string, id: PeerIdentityMaterial): tls.SecureContext {
    if (!this.gen || this.gen.cert !== id.certChainPem || this.gen.key !== id.keyPem) {
      this.gen = { cert: id.certChainPem, key: id.keyPem, contexts: new Map() };
    }
    // Keyed by the roots' text: trust domains with the same bundle share a context.
    let ctx = this.gen.contexts.get(roots);
    if (!ctx) {
      ctx = tls.createSecureContext({
        ca: roots,
        cert: id.certChainPem,
        key: id.keyPem,
        minVersion: 'TLSv1.3',
        ciphers: TLS13_CIPHERS,
      });
      this.gen.contexts.set(roots, ctx);
      this.created++;
    }
    return ctx;
  }
}
