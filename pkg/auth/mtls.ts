import { X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, PeerCertificate } from 'node:tls';
import { parseSpiffeId } from '../x509';
import { authFailure } from './types';
import type { Authenticator, CallContext, CallerIdentity } from './types';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM bundle, parsed; throws with a reason on an empty or unparsable bundle. */
export function parsePemCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new Error('no PEM certificate found');
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw new Error(`certificate ${i + 1}: ${(e as Error).message}`);
    }
  });
}

/** Certificates that may anchor an identity of one trust domain. */
export interface AnchorSet {
  readonly certs: readonly X509Certificate[];
  /** fingerprint256 of each, for O(1) membership. */
  readonly fingerprints: ReadonlySet<string>;
}

/** Trust domain → roots, as the daemon is configured (peering.trustBundles plus the mesh bundle). */
export interface TrustAnchors {
  /** PEM roots trusted for a trust domain; undefined when the trust domain has none. */
  rootsFor(trustDomain: string): string | undefined;
  /** Parsed anchors of a trust domain (undefined when none). */
  anchorsFor(trustDomain: string): AnchorSet | undefined;
  /** Every trust domain with roots, the local one first. */
  trustDomains(): string[];
  /** Union of every trust domain's roots: what the TLS layer verifies client certificates against. */
  unionPem(): string;
  /** fingerprint256 of every certificate in unionPem(). */
  unionFingerprints(): ReadonlySet<string>;
}

function anchorSet(certs: X509Certificate[]): AnchorSet {
  return { certs, fingerprints: new Set(certs.map((c) => c.fingerprint256)) };
}

/**
 * The per-trust-domain root mapping. The local trust domain always maps to the
 * mesh bundle (read live: plug-in roots or our own root) plus the CA
 * certificates of our own issuing chain (we are that CA, so what its
 * intermediates signed is ours even when the TLS layer hides the chain);
 * every other trust domain maps to the roots configured for it
 * (peering.trustBundles), parsed once here.
 */
export class TrustDomainRoots implements TrustAnchors {
  private readonly extra = new Map<string, { pem: string; anchors: AnchorSet }>();
  private local?: { pem: string; issuers: string; anchors: AnchorSet; union: string; unionFp: Set<string> };

  constructor(
    private readonly o: {
      localTrustDomain: string;
      /** The mesh trust bundle (PEM roots). */
      localRoots: () => string;
      /** Our own issuing chain (PEM; non-CA certificates in it are ignored). */
      localIssuers?: () => string;
      /** trust domain → PEM roots. */
      extra?: ReadonlyMap<string, string>;
    },
  ) {
    for (const [td, pem] of o.extra ?? []) {
      if (td === o.localTrustDomain)
        throw new Error(`trust domain ${td} is the local one; it always uses the mesh trust bundle`);
      this.extra.set(td, { pem, anchors: anchorSet(parsePemCertificates(pem)) });
    }
  }

  private current(): NonNullable<TrustDomainRoots['local']> {
    const pem = this.o.localRoots();
    const issuers = this.o.localIssuers?.() ?? '';
    // Called per authentication: the same strings come back until a rotation.
    if (this.local && this.local.pem === pem && this.local.issuers === issuers) return this.local;
    const roots = pem ? parsePemCertificates(pem) : [];
    const own = issuers ? parsePemCertificates(issuers).filter((c) => c.ca) : [];
    const anchors = anchorSet([...roots, ...own]);
    const union = [pem, ...[...this.extra.values()].map((e) => e.pem)]
      .map((p) => (p.endsWith('\n') || p === '' ? p : `${p}\n`))
      .join('');
    const unionFp = new Set<string>(roots.map((c) => c.fingerprint256));
    for (const e of this.extra.values()) for (const f of e.anchors.fingerprints) unionFp.add(f);
    this.local = { pem, issuers, anchors, union, unionFp };
    return this.local;
  }

  rootsFor(trustDomain: string): string | undefined {
    if (trustDomain === this.o.localTrustDomain) return this.current().pem || undefined;
    return this.extra.get(trustDomain)?.pem;
  }

  anchorsFor(trustDomain: string): AnchorSet | undefined {
    if (trustDomain === this.o.localTrustDomain) return this.current().anchors;
    return this.extra.get(trustDomain)?.anchors;
  }

  trustDomains(): string[] {
    return [this.o.localTrustDomain, ...[...this.extra.keys()].sort()];
  }

  unionPem(): string {
    return this.current().union;
  }

  unionFingerprints(): ReadonlySet<string> {
    return this.current().unionFp;
  }
}

const MAX_CHAIN = 10;

/** Leaf first, following issuerCertificate links (getPeerCertificate(true)) to the self-signed end. */
function chainOf(cert: PeerCertificate | DetailedPeerCertificate): X509Certificate[] {
  const out: X509Certificate[] = [];
  let cur: PeerCertificate | undefined = cert;
  const seen = new Set<PeerCertificate>();
  while (cur?.raw && !seen.has(cur) && out.length < MAX_CHAIN) {
    seen.add(cur);
    out.push(new X509Certificate(cur.raw));
    const next: PeerCertificate | undefined = (cur as DetailedPeerCertificate).issuerCertificate;
    if (!next || next === cur || next.fingerprint256 === cur.fingerprint256) break;
    cur = next;
  }
  return out;
}

const issuedBy = (c: X509Certificate, issuer: X509Certificate): boolean =>
  issuer.ca && c.checkIssued(issuer) && c.verify(issuer.publicKey);

/**
 * True when the presented chain anchors in `anchors`: every link up to the
 * first certificate that is an anchor is checked (issuer name, CA flag,
 * signature), and where the chain ends short of an anchor, its last
 * certificate must have been signed by one. Independent of what the TLS layer
 * verified against, so a root trusted for one trust domain never vouches for
 * an identity of another.
 */
export function anchoredIn(cert: PeerCertificate | DetailedPeerCertificate, anchors: AnchorSet): boolean {
  let chain: X509Certificate[];
  try {
    chain = chainOf(cert);
  } catch {
    return false;
  }
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i]!;
    if (i > 0) {
      if (!issuedBy(chain[i - 1]!, c)) return false;
      if (anchors.fingerprints.has(c.fingerprint256)) return true;
    }
    if (i === chain.length - 1) return anchors.certs.some((a) => issuedBy(c, a));
  }
  return false;
}

export interface MtlsAuthenticatorOptions {
  /** Accepted trust domains; a caller of any other is refused. */
  trustDomains: readonly string[];
  /**
   * Per-trust-domain roots. When set, the certificate must anchor in the roots
   * of the trust domain its own SPIFFE id names (the TLS layer verified it
   * against the union of all of them).
   */
  anchors?: TrustAnchors;
  /**
   * ns/sa accounts accepted from a trust domain other than the local one (the
   * first of trustDomains): peer daemons only. Unset = any account.
   */
  foreignAccounts?: readonly string[];
}

/**
 * Identity from a client certificate that TLS already verified against our
 * roots (renewal with a still-valid mesh certificate, peered daemons). The
 * certificate must carry exactly one URI SAN and it must be a SPIFFE id of an
 * accepted trust domain whose roots the chain anchors in.
 */
export class MtlsAuthenticator implements Authenticator {
  private readonly trustDomains: ReadonlySet<string>;
  private readonly local: string | undefined;
  private readonly foreign?: ReadonlySet<string>;
  constructor(private readonly opts: MtlsAuthenticatorOptions) {
    this.trustDomains = new Set(opts.trustDomains);
    this.local = opts.trustDomains[0];
    if (opts.foreignAccounts) this.foreign = new Set(opts.foreignAccounts);
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
    if (!this.trustDomains.has(id.trustDomain))
      throw authFailure('wrong_trust_domain', `trust domain ${id.trustDomain} not accepted`);
    if (this.foreign && id.trustDomain !== this.local && !this.foreign.has(`${id.namespace}/${id.serviceAccount}`)) {
      throw authFailure(
        'wrong_trust_domain',
        `${id.uri}: only peer daemon accounts are accepted from trust domain ${id.trustDomain}`,
      );
    }
    if (this.opts.anchors) this.checkAnchor(cert, id.trustDomain, id.uri);
    return Object.freeze({
      spiffeId: id.uri,
      trustDomain: id.trustDomain,
      namespace: id.namespace,
      serviceAccount: id.serviceAccount,
      method: 'mtls' as const,
    });
  }

  private checkAnchor(cert: PeerCertificate | DetailedPeerCertificate, td: string, uri: string): void {
    const anchors = this.opts.anchors!;
    const own = anchors.anchorsFor(td);
    if (!own) throw authFailure('wrong_trust_domain', `no roots configured for trust domain ${td}`);
    // TLS verified the chain against the union; if every root of the union is
    // one of this trust domain's anchors, that already proves it (the common
    // single-trust-domain case: no parsing at all).
    const union = anchors.unionFingerprints();
    let subset = true;
    for (const f of union) {
      if (!own.fingerprints.has(f)) {
        subset = false;
        break;
      }
    }
    if (subset) return;
    if (!anchoredIn(cert, own))
      throw authFailure('untrusted_anchor', `${uri} does not chain to a root of trust domain ${td}`);
  }
}
