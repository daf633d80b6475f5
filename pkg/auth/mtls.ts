import { parseSpiffeId } from '../x509';
import { authFailure } from './types';
import type { Authenticator, CallContext, CallerIdentity } from './types';

/**
 * Identity from a client certificate that TLS already verified against our
 * roots (renewal with a still-valid mesh certificate, peered daemons). The
 * certificate must carry exactly one URI SAN and it must be a SPIFFE id of an
 * accepted trust domain.
 */
export class MtlsAuthenticator implements Authenticator {
  private readonly trustDomains: ReadonlySet<string>;
  constructor(opts: { trustDomains: readonly string[] }) {
    this.trustDomains = new Set(opts.trustDomains);
  }

  async authenticate(ctx: CallContext): Promise<CallerIdentity> {
    const cert = ctx.peerCertificate;
    if (!cert || !cert.raw) throw authFailure('no_credentials', 'no verified client certificate');
    // Node renders SANs as "DNS:a, URI:spiffe://..."; entries with odd characters are JSON-quoted.
    const uris = (cert.subjectaltname ?? '')
      .split(', ')
      .filter((s) => s.startsWith('URI:'))
      .map((s) => {
        const v = s.slice(4);
        return v.startsWith('"') ? (JSON.parse(v) as string) : v;
      });
    if (uris.length !== 1) throw authFailure('bad_peer_certificate', `client certificate has ${uris.length} URI SANs`);
    let id;
    try {
      id = parseSpiffeId(uris[0]!);
    } catch {
      throw authFailure('bad_peer_certificate', 'client certificate URI SAN is not a workload SPIFFE id');
    }
    if (!this.trustDomains.has(id.trustDomain)) throw authFailure('wrong_trust_domain', `trust domain ${id.trustDomain} not accepted`);
    return Object.freeze({ spiffeId: id.uri, trustDomain: id.trustDomain, namespace: id.namespace, serviceAccount: id.serviceAccount, method: 'mtls' as const });
  }
}
