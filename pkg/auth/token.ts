import { systemClock } from '../lifecycle';
import type { Clock } from '../lifecycle';
import { parseSpiffeId } from '../x509';
import type { KeySet } from './jwks';
import { MAX_TOKEN_BYTES, peekJwt, SUPPORTED_ALGS, verifyJwt } from './jwt';
import type { JwtAlg, JwtPayload } from './jwt';
import { VerifiedTokenCache } from './token-cache';
import { authFailure, header } from './types';
import type { Authenticator, CallContext, CallerIdentity } from './types';

export const DEFAULT_AUDIENCE = 'istio-ca';

export interface TrustedIssuer {
  issuer: string;
  /** Accepted audiences; the token's `aud` must contain at least one. Default ['istio-ca']. */
  audiences?: readonly string[];
  keys: KeySet;
  /** Reported as CallerIdentity.method. */
  method: 'jwt' | 'bootstrap';
  /** Appended to the (logged, never returned) reason when a token names a key this issuer does not hold. */
  unknownKeyHint?: string;
}

export interface TokenAuthenticatorOptions {
  issuers: readonly TrustedIssuer[];
  /** Trust domain of the SPIFFE ids we derive (the mesh's, not the token's). */
  trustDomain: string;
  /** Allowed clock skew for exp/nbf, seconds (default 30). */
  skewSeconds?: number;
  /** Verified tokens remembered (default 10,000), each until its exp or its issuer's keys change (token-cache.ts). */
  cacheSize?: number;
  clock?: Clock;
}

const SA_SUBJECT = /^system:serviceaccount:([^:]+):([^:]+)$/;

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function k8sClaim(payload: JwtPayload, path: [string, string]): string | undefined {
  const k = payload['kubernetes.io'];
  if (typeof k !== 'object' || k === null) return undefined;
  const o = (k as Record<string, unknown>)[path[0]];
  return typeof o === 'object' && o !== null ? str((o as Record<string, unknown>)[path[1]]) : undefined;
}

/**
 * Bearer-token authentication, verified locally (no TokenReview round trip):
 * Kubernetes service-account JWTs and our own bootstrap tokens share this path.
 * A verified token is cached (VerifiedTokenCache: bounded, until exp or key
 * rotation) because ztunnel sends the same token on every CSR.
 */
export class TokenAuthenticator implements Authenticator {
  private readonly byIssuer: Map<string, TrustedIssuer>;
  private readonly clock: Clock;
  private readonly skewMs: number;
  private readonly skewSeconds: number;
  private readonly cache: VerifiedTokenCache;
  /** The last token seen and its cache key: a shared-mode ztunnel sends the same token with every CSR. */
  private last: { token: string; key: string } | undefined;

  constructor(private readonly opts: TokenAuthenticatorOptions) {
    this.byIssuer = new Map(opts.issuers.map((i) => [i.issuer, i]));
    this.clock = opts.clock ?? systemClock;
    this.skewSeconds = opts.skewSeconds ?? 30;
    this.skewMs = this.skewSeconds * 1000;
    this.cache = new VerifiedTokenCache(opts.cacheSize ?? 10_000);
  }

  async authenticate(ctx: CallContext): Promise<CallerIdentity> {
    const h = header(ctx, 'authorization');
    if (!h) throw authFailure('no_credentials', 'no authorization header');
    const m = /^Bearer +(\S+)\s*$/i.exec(h);
    if (!m) throw authFailure('malformed_token', 'authorization is not a Bearer token');
    return this.verify(m[1]!);
  }

  async verify(token: string): Promise<CallerIdentity> {
    const now = this.clock.now();
    const cacheKey = token.length <= MAX_TOKEN_BYTES ? this.cacheKeyOf(token) : undefined;
    const hit = cacheKey === undefined ? undefined : this.cache.lookup(cacheKey, now);
    if (hit) {
      this.checkTimes(hit.exp, hit.nbf, now);
      return hit.identity;
    }
    const jwt = peekJwt(token);
    const alg = jwt.header.alg;
    // Checked before anything else: 'none' and HMAC (HS256 with a public key as secret) are classic forgeries.
    // (jose's `algorithms` enforces the same list; this keeps the refusal reason ahead of the issuer's.)
    if (typeof alg !== 'string' || !(SUPPORTED_ALGS as readonly string[]).includes(alg)) {
      throw authFailure('unsupported_alg', `alg ${String(alg).slice(0, 16)}`);
    }
    const iss = str(jwt.payload.iss);
    const trusted = iss ? this.byIssuer.get(iss) : undefined;
    if (!trusted) throw authFailure('wrong_issuer', `issuer ${String(iss).slice(0, 128)} not trusted`);
    // Read before the lookup: a rotation that lands while we verify leaves the entry already stale.
    const generation = trusted.keys.generation();
    const p = await verifyJwt(token, {
      issuer: trusted.issuer,
      audiences: trusted.audiences ?? [DEFAULT_AUDIENCE],
      skewSeconds: this.skewSeconds,
      now,
      resolveKey: async (kid, keyAlg: JwtAlg) => {
        const key = await trusted.keys.getKey(kid, keyAlg);
        if (key) return key;
        const hint = trusted.unknownKeyHint ? `; ${trusted.unknownKeyHint}` : '';
        throw authFailure('unknown_kid', `no ${keyAlg} key ${kid ?? '(no kid)'} for ${trusted.issuer}${hint}`);
      },
    });
    // NumericDate (RFC 7519 §2): jose checked exp/nbf are numbers; absurd values (1e308) would overflow
    // Date arithmetic and keep a cache entry forever.
    const MAX_NUMERIC_DATE = 253402300799; // 9999-12-31T23:59:59Z
    const badDate = (v: unknown): boolean => typeof v !== 'number' || Math.abs(v) > MAX_NUMERIC_DATE;
    if (badDate(p.exp)) throw authFailure('malformed_token', 'exp not a valid NumericDate');
    if (p.nbf !== undefined && badDate(p.nbf)) throw authFailure('malformed_token', 'nbf not a valid NumericDate');
    const exp = (p.exp as number) * 1000;
    const nbf = typeof p.nbf === 'number' ? p.nbf * 1000 : -Infinity;

    const sub = str(p.sub) ?? '';
    const sm = SA_SUBJECT.exec(sub);
    if (!sm) throw authFailure('bad_subject', `subject ${sub.slice(0, 128)} is not a service account`);
    // SA_SUBJECT has two capture groups, both required: a match always has them.
    const namespace = sm[1]!;
    const serviceAccount = sm[2]!;
    const kio = p['kubernetes.io'];
    const claimNs =
      typeof kio === 'object' && kio !== null ? str((kio as Record<string, unknown>).namespace) : undefined;
    if (claimNs !== undefined && claimNs !== namespace)
      throw authFailure('bad_subject', 'kubernetes.io namespace disagrees with sub');
    let spiffeId: string;
    try {
      spiffeId = parseSpiffeId(`spiffe://${this.opts.trustDomain}/ns/${namespace}/sa/${serviceAccount}`).uri;
    } catch {
      throw authFailure('bad_subject', 'subject does not form a valid SPIFFE id');
    }
    const identity: CallerIdentity = {
      spiffeId,
      trustDomain: this.opts.trustDomain,
      namespace,
      serviceAccount,
      method: trusted.method,
    };
    const podName = k8sClaim(p, ['pod', 'name']);
    const podUid = k8sClaim(p, ['pod', 'uid']);
    const nodeName = k8sClaim(p, ['node', 'name']);
    if (podName) identity.podName = podName;
    if (podUid) identity.podUid = podUid;
    if (nodeName) identity.nodeName = nodeName;
    Object.freeze(identity);
    if (cacheKey !== undefined) this.cache.store(cacheKey, { identity, exp, nbf, keys: trusted.keys, generation }, now);
    return identity;
  }

  /**
   * The SHA-256 cache key, remembered for the last token: a repeat costs a string comparison, not a digest.
   * Only the key is remembered — lookup() still checks the entry's exp and its key set's generation.
   */
  private cacheKeyOf(token: string): string {
    if (this.last?.token === token) return this.last.key;
    const key = VerifiedTokenCache.keyOf(token);
    this.last = { token, key };
    return key;
  }

  private checkTimes(exp: number, nbf: number, now: number): void {
    if (now > exp + this.skewMs) throw authFailure('expired', `expired at ${new Date(exp).toISOString()}`);
    if (now + this.skewMs < nbf) throw authFailure('not_yet_valid', `not valid before ${new Date(nbf).toISOString()}`);
  }
}
