import type * as crypto from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as https from 'node:https';
import { calculateJwkThumbprint, importJWK } from 'jose';
import type { JWK } from 'jose';
import { systemClock } from '../lifecycle';
import type { Clock } from '../lifecycle';
import type { Logger } from '../log';
import type { JwtAlg, VerificationKey } from './jwt';
import { authFailure } from './types';

export interface JsonWebKeySet {
  keys: Array<crypto.JsonWebKey & { kid?: string; alg?: string; use?: string }>;
}

/** Where verification keys come from. `refresh` is the hook for an unknown kid. */
export interface KeySet {
  /** The key for `kid`/`alg`, or undefined. May refresh (rate-limited) when the kid is unknown. */
  getKey(kid: string | undefined, alg: JwtAlg): Promise<VerificationKey | undefined>;
  /**
   * Changes whenever the set of keys changes (rotation, removal), so whatever
   * was verified under an older generation is checked again. Cheap and
   * synchronous; a set that refreshes may start a background reload here.
   */
  generation(): number;
}

interface ParsedKey {
  kid: string | undefined;
  key: VerificationKey;
  alg: JwtAlg;
  /** RFC 7638 thumbprint of the public key. */
  thumbprint: string;
}

/** RS256 needs RSA of at least 2048 bits (RFC 7518 §3.3); ES256 is P-256 only (§3.4). */
function algFor(jwk: JWK): JwtAlg | undefined {
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  return undefined;
}

function keysOf(set: unknown): JsonWebKeySet['keys'] {
  const keys = (set as JsonWebKeySet | undefined)?.keys;
  if (!Array.isArray(keys)) throw new Error('JWKS has no keys array');
  return keys;
}

async function parseKey(jwk: JsonWebKeySet['keys'][number]): Promise<ParsedKey> {
  if (jwk.use !== undefined && jwk.use !== 'sig') throw new Error(`use=${jwk.use}`);
  // Only public members go in: a JWKS that carries "d" must not turn into a private key here.
  const { kty, n, e, crv, x, y } = jwk;
  const pub: JWK = { kty, n, e, crv, x, y };
  const alg = algFor(pub);
  if (!alg || (jwk.alg !== undefined && jwk.alg !== alg)) {
    throw new Error(`unsupported key ${kty ?? ''}/${crv ?? ''} alg=${jwk.alg ?? ''}`);
  }
  const key = await importJWK(pub, alg);
  if (!('algorithm' in key)) throw new Error('not a public key');
  const bits = (key.algorithm as { modulusLength?: number }).modulusLength;
  if (alg === 'RS256' && (bits ?? 0) < 2048) throw new Error(`RSA key of ${bits ?? '?'} bits`);
  return { kid: jwk.kid, key, alg, thumbprint: await calculateJwkThumbprint(pub) };
}

/** Public keys of a JWKS, item by item (imported by jose): unusable entries are skipped (and reported), never fatal. */
export async function parseJwks(set: unknown, onSkip?: (why: string) => void): Promise<ParsedKey[]> {
  const out: ParsedKey[] = [];
  for (const jwk of keysOf(set)) {
    try {
      out.push(await parseKey(jwk));
    } catch (e) {
      onSkip?.(`key ${jwk?.kid ?? '?'}: ${(e as Error).message}`);
    }
  }
  return out;
}

function select(keys: readonly ParsedKey[], kid: string | undefined, alg: JwtAlg): VerificationKey | undefined {
  if (kid !== undefined) return keys.find((k) => k.kid === kid && k.alg === alg)?.key;
  // No kid: only unambiguous when exactly one key fits the algorithm.
  const fit = keys.filter((k) => k.alg === alg);
  return fit.length === 1 ? fit[0]!.key : undefined;
}

/** A fixed key set (e.g. the daemon's own bootstrap issuer). */
export class StaticKeySet implements KeySet {
  private readonly keys: Promise<ParsedKey[]>;
  constructor(jwks: JsonWebKeySet) {
    // A set without a keys array fails here, synchronously; entries are imported on first use.
    keysOf(jwks);
    this.keys = parseJwks(jwks);
  }
  async getKey(kid: string | undefined, alg: JwtAlg): Promise<VerificationKey | undefined> {
    return select(await this.keys, kid, alg);
  }
  generation(): number {
    return 0;
  }
}

/** Identifies a key set's contents: kid, alg and public-key thumbprint of every entry. */
function fingerprint(keys: readonly ParsedKey[]): string {
  return keys.map((k) => `${k.kid ?? ''}\0${k.alg}\0${k.thumbprint}`).join('\n');
}

export type JwksLoader = () => Promise<unknown>;

export interface RefreshingKeySetOptions {
  loader: JwksLoader;
  /** Human-readable origin for logs. */
  source: string;
  /** Re-fetch at most this often when an unknown kid shows up (default 30 s). */
  minRefreshIntervalMs?: number;
  /** Re-fetch in the background of a lookup when the set is older than this (default 10 min). */
  maxAgeMs?: number;
  clock?: Clock;
  logger: Logger;
}

/**
 * Keys loaded from a file or URL and cached. An unknown kid triggers a reload
 * (the issuer rotated its keys), rate-limited so a flood of forged kids cannot
 * turn into a flood of fetches. Concurrent lookups share one in-flight load.
 * A failed reload keeps the last good set.
 */
export class RefreshingKeySet implements KeySet {
  private keys: ParsedKey[] = [];
  private keysFingerprint = '';
  private gen = 0;
  private loadedAt = -Infinity;
  private attemptedAt = -Infinity;
  private inflight: Promise<void> | undefined;
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(private readonly opts: RefreshingKeySetOptions) {
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger.child({ component: 'jwks' });
  }

  async getKey(kid: string | undefined, alg: JwtAlg): Promise<VerificationKey | undefined> {
    const now = this.clock.monotonic();
    let key = select(this.keys, kid, alg);
    // A reload already under way (e.g. started by generation()) is awaited, not skipped.
    if ((!key || this.stale(now)) && (this.inflight !== undefined || this.mayAttempt(now))) {
      await this.reload();
      key = select(this.keys, kid, alg);
    }
    if (!key && this.loadedAt === -Infinity)
      throw authFailure('keys_unavailable', `no key set loaded from ${this.opts.source}`);
    return key;
  }

  /** Verifications cached by callers depend on it, so a stale set is refreshed in the background from here too. */
  generation(): number {
    const now = this.clock.monotonic();
    if (this.stale(now) && this.mayAttempt(now)) void this.reload();
    return this.gen;
  }

  private stale(now: number): boolean {
    return now - this.loadedAt > (this.opts.maxAgeMs ?? 600_000);
  }

  private mayAttempt(now: number): boolean {
    return now - this.attemptedAt >= (this.opts.minRefreshIntervalMs ?? 30_000);
  }

  /** Loads now (coalesced). Errors are logged; the previous set stays. */
  reload(): Promise<void> {
    if (!this.inflight) {
      this.attemptedAt = this.clock.monotonic();
      this.inflight = (async () => {
        try {
          const skip = (why: string): void =>
            this.logger.warn({ source: this.opts.source }, `JWKS entry skipped: ${why}`);
          const keys = await parseJwks(await this.opts.loader(), skip);
          const fp = fingerprint(keys);
          // Nothing can have been verified against an empty set, so the first load is not a change.
          if (fp !== this.keysFingerprint && this.keys.length > 0) this.gen++;
          this.keysFingerprint = fp;
          this.keys = keys;
          this.loadedAt = this.clock.monotonic();
          this.logger.debug({ source: this.opts.source, keys: keys.length }, 'JWKS loaded');
        } catch (e) {
          this.logger.warn(
            { source: this.opts.source, err: (e as Error).message },
            'JWKS load failed; keeping the previous keys',
          );
        } finally {
          this.inflight = undefined;
        }
      })();
    }
    return this.inflight;
  }
}

export function fileJwksLoader(file: string): JwksLoader {
  return async () => JSON.parse(await fs.readFile(file, 'utf8')) as unknown;
}

export type Fetcher = (
  url: string,
  init: { signal: AbortSignal; headers: Record<string, string> },
) => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>;

/**
 * Loads a JWKS from `jwksUri`, or discovers it from `<issuer>/.well-known/openid-configuration`
 * (what the Kubernetes API server publishes for service-account tokens).
 */
export function urlJwksLoader(opts: {
  issuer?: string;
  jwksUri?: string;
  fetcher?: Fetcher;
  timeoutMs?: number;
  headers?: Record<string, string>;
}): JwksLoader {
  const fetcher: Fetcher = opts.fetcher ?? ((url, init) => fetch(url, init));
  const get = async (url: string): Promise<unknown> => {
    const signal = AbortSignal.timeout(opts.timeoutMs ?? 5000);
    // kube-apiserver serves /openid/v1/jwks as application/jwk-set+json and answers 406 without it.
    const res = await fetcher(url, {
      signal,
      headers: { accept: 'application/jwk-set+json, application/json', ...(opts.headers ?? {}) },
    });
    if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
    return res.json();
  };
  return async () => {
    let uri = opts.jwksUri;
    if (!uri) {
      if (!opts.issuer) throw new Error('neither jwksUri nor issuer configured');
      const disco = (await get(`${opts.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`)) as {
        jwks_uri?: unknown;
      };
      if (typeof disco.jwks_uri !== 'string') throw new Error('discovery document has no jwks_uri');
      uri = disco.jwks_uri;
    }
    return get(uri);
  };
}

/**
 * A Fetcher over node:https with a private CA (and optional client cert), for
 * issuers such as the Kubernetes API server whose certificate is not publicly
 * trusted. Bodies are capped (a JWKS is a few KiB).
 */
export function httpsFetcher(
  tlsOpts: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; maxBytes?: number } = {},
): Fetcher {
  const maxBytes = tlsOpts.maxBytes ?? 1024 * 1024;
  return (url, init) =>
    new Promise((resolve, reject) => {
      const req = https.get(
        url,
        {
          ca: tlsOpts.ca,
          cert: tlsOpts.cert,
          key: tlsOpts.key,
          headers: init.headers,
          signal: init.signal,
          minVersion: 'TLSv1.2',
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > maxBytes) req.destroy(new Error(`response from ${url} exceeds ${maxBytes} bytes`));
            else chunks.push(c);
          });
          res.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            resolve({ ok: status >= 200 && status < 300, status, json: async () => JSON.parse(body) as unknown });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
    });
}
