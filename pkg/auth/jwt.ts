import * as crypto from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { CryptoKey, JWTPayload, ProtectedHeaderParameters } from 'jose';
import { DaemonError } from '../errors';
import { authFailure } from './types';

/** Kubernetes SA tokens are ~1 KiB; anything far larger is not one. */
export const MAX_TOKEN_BYTES = 16 * 1024;

export type JwtAlg = 'RS256' | 'ES256';
export const SUPPORTED_ALGS: readonly JwtAlg[] = ['RS256', 'ES256'];

/** A public key imported by jose (WebCrypto), usable for exactly one JwtAlg. */
export type VerificationKey = CryptoKey;

export interface JwtHeader {
  alg: string;
  kid?: string;
  typ?: string;
}

export type JwtPayload = JWTPayload;

/** The unverified header and claims: only for choosing the issuer and key. Never trusted on their own. */
export function peekJwt(token: string): { header: ProtectedHeaderParameters; payload: JwtPayload } {
  if (token.length > MAX_TOKEN_BYTES) throw authFailure('malformed_token', 'token too large');
  try {
    return { header: decodeProtectedHeader(token), payload: decodeJwt(token) };
  } catch (e) {
    throw authFailure('malformed_token', `not a compact JWS with JSON header and claims (${(e as Error).message})`);
  }
}

export interface VerifyJwtOptions {
  issuer: string;
  audiences: readonly string[];
  skewSeconds: number;
  /** Epoch ms. */
  now: number;
  /** The key for the token's kid/alg; throws an auth failure (unknown_kid, keys_unavailable) when there is none. */
  resolveKey(kid: string | undefined, alg: JwtAlg): Promise<VerificationKey>;
}

/** jose's refusals onto our reasons (types.ts); the detail is logged, never returned to the caller. */
function toAuthFailure(e: unknown, issuer: string): Error {
  if (e instanceof DaemonError) return e;
  const msg = (e as Error)?.message ?? String(e);
  if (e instanceof errors.JWTExpired) return authFailure('expired', msg);
  if (e instanceof errors.JWTClaimValidationFailed) {
    // An absent or non-string aud/iss is as wrong as a foreign one (as before jose).
    if (e.claim === 'aud') return authFailure('wrong_audience', msg);
    if (e.claim === 'iss') return authFailure('wrong_issuer', msg);
    if (e.claim === 'nbf' && e.reason === 'check_failed') return authFailure('not_yet_valid', msg);
    return authFailure('malformed_token', msg);
  }
  if (e instanceof errors.JWSSignatureVerificationFailed) return authFailure('bad_signature', `${msg} (${issuer})`);
  if (e instanceof errors.JOSEAlgNotAllowed) return authFailure('unsupported_alg', msg);
  // Everything else jose refuses (unknown "crit" extensions, b64=false, bad encodings) is not a JWT we accept.
  if (e instanceof errors.JOSEError) return authFailure('malformed_token', msg);
  // Anything else comes from the crypto layer under a key that is ours: the signature did not check out.
  return authFailure('bad_signature', `${msg} (${issuer})`);
}

/**
 * Signature (RS256/ES256 only), iss, aud, exp (required) and nbf with skew, checked by jose's
 * jwtVerify (RFC 7519 §7.2). Returns the verified claims.
 */
export async function verifyJwt(token: string, o: VerifyJwtOptions): Promise<JwtPayload> {
  try {
    const { payload } = await jwtVerify(token, (h) => o.resolveKey(h.kid, h.alg as JwtAlg), {
      algorithms: [...SUPPORTED_ALGS],
      issuer: o.issuer,
      audience: [...o.audiences],
      clockTolerance: o.skewSeconds,
      currentDate: new Date(o.now),
      requiredClaims: ['exp'],
    });
    return payload;
  } catch (e) {
    throw toAuthFailure(e, o.issuer);
  }
}

/** Issues our own tokens (bootstrap.ts) and test tokens; synchronous, unlike jose's SignJWT. */
export function signJwt(
  header: JwtHeader & { alg: JwtAlg },
  payload: Record<string, unknown>,
  key: crypto.KeyObject,
): string {
  const h = Buffer.from(JSON.stringify(header)).toString('base64url');
  const p = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const input = Buffer.from(`${h}.${p}`, 'ascii');
  // ES256 signatures are raw r||s (RFC 7518 §3.4), hence ieee-p1363.
  const sig =
    header.alg === 'ES256'
      ? crypto.sign('sha256', input, { key, dsaEncoding: 'ieee-p1363' })
      : crypto.sign('sha256', input, key);
  return `${h}.${p}.${sig.toString('base64url')}`;
}
