import type { JsonWebKey } from 'node:crypto';
import { DaemonError, GrpcCode } from '../errors';
import type { Logger } from '../log';
import { systemClock, type Clock } from '../lifecycle';
import type { KubeApi } from './client';

/** What pkg/auth's JWT verifier accepts (structural). */
export interface JwksProvider {
  readonly issuer: string;
  getKeys(): Promise<JsonWebKey[]>;
  refresh(): Promise<void>;
}

export interface ServiceAccountIssuer {
  issuer: string;
  jwksUri: string;
}

/** Paths the API server serves for service-account issuer discovery (KEP-1393). */
export const OIDC_DISCOVERY_PATH = '/.well-known/openid-configuration';
export const JWKS_PATH = '/openid/v1/jwks';

/**
 * Reads the service-account issuer from the API server with our own
 * credentials. (jwks_uri there is the externally published URL, which may not
 * be reachable from the pod; keys are always fetched from JWKS_PATH on the
 * API server itself.)
 */
export async function discoverServiceAccountIssuer(api: KubeApi): Promise<ServiceAccountIssuer> {
  const doc = await api.json<{ issuer?: string; jwks_uri?: string }>('GET', OIDC_DISCOVERY_PATH, { timeoutMs: 15_000 });
  if (!doc.issuer)
    throw new DaemonError('kube.oidc_invalid', GrpcCode.FAILED_PRECONDITION, `${OIDC_DISCOVERY_PATH} has no issuer`);
  return { issuer: doc.issuer, jwksUri: doc.jwks_uri ?? '' };
}

export interface KubeJwksProviderOptions {
  logger: Logger;
  clock?: Clock;
  /** Keys older than this are re-fetched on the next getKeys(). Default 10 min. */
  maxAgeMs?: number;
  /**
   * refresh() calls closer together than this reuse the current keys: a flood
   * of tokens with unknown kids (forged ones) must not become a flood of
   * requests to the API server. Default 10 s.
   */
  minRefreshIntervalMs?: number;
}

/** Service-account signing keys from the API server, cached, refreshed on demand (unknown kid). */
export class KubeJwksProvider implements JwksProvider {
  private keys: JsonWebKey[] = [];
  private fetchedAt = -Infinity;
  private inflight?: Promise<void>;
  private readonly clock: Clock;
  private readonly log: Logger;

  private constructor(
    private readonly api: KubeApi,
    readonly issuer: string,
    private readonly opts: KubeJwksProviderOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger.child({ component: 'kube-jwks' });
  }

  /** Discovers the issuer, fetches the first key set. */
  static async create(api: KubeApi, opts: KubeJwksProviderOptions): Promise<KubeJwksProvider> {
    const { issuer } = await discoverServiceAccountIssuer(api);
    const p = new KubeJwksProvider(api, issuer, opts);
    await p.fetch();
    return p;
  }

  async getKeys(): Promise<JsonWebKey[]> {
    if (this.clock.monotonic() - this.fetchedAt > (this.opts.maxAgeMs ?? 600_000)) {
      // Serve the old keys if the refresh fails: the API server being briefly
      // unreachable must not fail every token verification.
      await this.refresh().catch((e: unknown) =>
        this.log.warn({ err: (e as Error).message }, 'JWKS refresh failed; keeping the cached keys'),
      );
    }
    return this.keys;
  }

  async refresh(): Promise<void> {
    if (this.inflight) return this.inflight;
    if (this.clock.monotonic() - this.fetchedAt < (this.opts.minRefreshIntervalMs ?? 10_000)) return;
    return this.fetch();
  }

  private fetch(): Promise<void> {
    this.inflight ??= (async () => {
      try {
        // The API server answers 406 unless jwk-set+json is acceptable.
        const doc = await this.api.json<{ keys?: JsonWebKey[] }>('GET', JWKS_PATH, {
          timeoutMs: 15_000,
          accept: 'application/jwk-set+json, application/json',
        });
        if (!Array.isArray(doc.keys))
          throw new DaemonError('kube.jwks_invalid', GrpcCode.UNAVAILABLE, `${JWKS_PATH} has no keys array`);
        this.keys = doc.keys;
        this.fetchedAt = this.clock.monotonic();
        this.log.debug({ kids: doc.keys.map((k) => (k as { kid?: string }).kid) }, 'service-account keys fetched');
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }
}
