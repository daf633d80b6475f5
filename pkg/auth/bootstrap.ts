import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DaemonError, GrpcCode } from '../errors';
import { systemClock } from '../lifecycle';
import type { Clock } from '../lifecycle';
import type { Logger } from '../log';
import { parseSpiffeId } from '../x509';
import { StaticKeySet } from './jwks';
import type { JsonWebKeySet } from './jwks';
import { signJwt } from './jwt';
import { DEFAULT_AUDIENCE } from './token';
import type { TrustedIssuer } from './token';

export interface BootstrapIssuerOptions {
  stateDir: string;
  trustDomain: string;
  /** `iss` of the tokens; default `ambientd://<trust domain>/bootstrap`. */
  issuer?: string;
  clock?: Clock;
  logger?: Logger;
}

export interface BootstrapTokenRequest {
  namespace: string;
  serviceAccount: string;
  node?: string;
  ttlSeconds: number;
  audience?: string;
}

/** Longest bootstrap token we mint: a year. They are bearer secrets; short is better. */
export const MAX_BOOTSTRAP_TTL_SECONDS = 365 * 24 * 3600;
const KEY_FILE = 'issuer-key.pem';

/** RFC 7638 JWK thumbprint (required members in lexicographic order), base64url. */
function thumbprint(jwk: crypto.JsonWebKey): string {
  const canon = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return crypto.createHash('sha256').update(canon).digest('base64url');
}

/**
 * Mints service-account-shaped tokens for VMs and local ztunnels, signed by an
 * ES256 key kept in the state directory (0600), created once. They are checked
 * by the same verifier as Kubernetes tokens; the JWKS is public.
 */
export class BootstrapIssuer {
  readonly issuer: string;
  /** The state directory whose `bootstrap/issuer-key.pem` signs (absolute). */
  readonly stateDir: string;
  private readonly key: crypto.KeyObject;
  private readonly publicJwk: crypto.JsonWebKey & { kid: string; alg: string; use: string };
  private readonly clock: Clock;

  private constructor(opts: BootstrapIssuerOptions, key: crypto.KeyObject) {
    this.issuer = opts.issuer ?? `ambientd://${opts.trustDomain}/bootstrap`;
    this.stateDir = path.resolve(opts.stateDir);
    this.key = key;
    this.clock = opts.clock ?? systemClock;
    const jwk = crypto.createPublicKey(key).export({ format: 'jwk' });
    this.publicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid: thumbprint(jwk), alg: 'ES256', use: 'sig' };
  }

  static open(opts: BootstrapIssuerOptions): BootstrapIssuer {
    const dir = path.join(opts.stateDir, 'bootstrap');
    const file = path.join(dir, KEY_FILE);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!fs.existsSync(file)) {
      const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
      fs.writeFileSync(tmp, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      try {
        // link() fails if another process published first; theirs wins.
        fs.linkSync(tmp, file);
        opts.logger?.info({ file }, 'created bootstrap token issuer key');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      } finally {
        fs.rmSync(tmp, { force: true });
      }
    }
    let key: crypto.KeyObject;
    try {
      key = crypto.createPrivateKey(fs.readFileSync(file));
    } catch {
      throw new DaemonError(
        'auth.bootstrap_key_invalid',
        GrpcCode.FAILED_PRECONDITION,
        `${file} is not a usable private key`,
      );
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new DaemonError(
        'auth.bootstrap_key_invalid',
        GrpcCode.FAILED_PRECONDITION,
        `${file} is not an ECDSA P-256 key`,
      );
    }
    return new BootstrapIssuer(opts, key);
  }

  createBootstrapToken(req: BootstrapTokenRequest): string {
    // Validate through the SPIFFE grammar so we never mint a token that cannot authenticate.
    parseSpiffeId(`spiffe://x/ns/${req.namespace}/sa/${req.serviceAccount}`);
    if (!Number.isFinite(req.ttlSeconds) || req.ttlSeconds <= 0 || req.ttlSeconds > MAX_BOOTSTRAP_TTL_SECONDS) {
      throw new DaemonError(
        'auth.bootstrap_bad_ttl',
        GrpcCode.INVALID_ARGUMENT,
        `ttl must be 1..${MAX_BOOTSTRAP_TTL_SECONDS} seconds`,
      );
    }
    const now = Math.floor(this.clock.now() / 1000);
    const k8s: Record<string, unknown> = { namespace: req.namespace, serviceaccount: { name: req.serviceAccount } };
    if (req.node) k8s.node = { name: req.node };
    return signJwt(
      { alg: 'ES256', typ: 'JWT', kid: this.publicJwk.kid },
      {
        iss: this.issuer,
        sub: `system:serviceaccount:${req.namespace}:${req.serviceAccount}`,
        aud: [req.audience ?? DEFAULT_AUDIENCE],
        iat: now,
        nbf: now,
        exp: now + Math.floor(req.ttlSeconds),
        jti: crypto.randomUUID(),
        'kubernetes.io': k8s,
      },
      this.key,
    );
  }

  /** Public keys only; served on the debug port. */
  jwks(): JsonWebKeySet {
    return { keys: [{ ...this.publicJwk }] };
  }

  /** The key id (RFC 7638 thumbprint) every token of this issuer carries. */
  get kid(): string {
    return this.publicJwk.kid;
  }

  trustedIssuer(audiences: readonly string[] = [DEFAULT_AUDIENCE]): TrustedIssuer {
    // A token minted against another state directory carries another key id:
    // the hint names the directory whose key this daemon verifies with.
    const unknownKeyHint =
      `this daemon's bootstrap tokens are signed by key ${this.kid} in ` +
      `${path.join(this.stateDir, 'bootstrap', KEY_FILE)}: mint them with ` +
      `\`ambientd token create --state-dir ${this.stateDir} ...\` (or --config with the daemon's config file)`;
    return { issuer: this.issuer, audiences, keys: new StaticKeySet(this.jwks()), method: 'bootstrap', unknownKeyHint };
  }
}
