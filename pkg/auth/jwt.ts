import * as crypto from 'node:crypto';
import { authFailure } from './types';

/** Kubernetes SA tokens are ~1 KiB; anything far larger is not one. */
export const MAX_TOKEN_BYTES = 16 * 1024;

export type JwtAlg = 'RS256' | 'ES256';
export const SUPPORTED_ALGS: ReadonlySet<string> = new Set<JwtAlg>(['RS256', 'ES256']);

export interface JwtHeader {
  alg: string;
  kid?: string;
  typ?: string;
}

export type JwtPayload = Record<string, unknown> & {
  iss?: unknown;
  sub?: unknown;
  aud?: unknown;
  exp?: unknown;
  nbf?: unknown;
  iat?: unknown;
};

export interface DecodedJwt {
  header: JwtHeader;
  payload: JwtPayload;
  signingInput: Buffer;
  signature: Buffer;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function b64url(part: string, what: string): Buffer {
  if (!B64URL.test(part)) throw authFailure('malformed_token', `${what} is not base64url`);
  return Buffer.from(part, 'base64url');
}

function json(part: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(b64url(part, what).toString('utf8'));
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith('auth.')) throw e;
    throw authFailure('malformed_token', `${what} is not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw authFailure('malformed_token', `${what} is not an object`);
  return v as Record<string, unknown>;
}

/** Splits and decodes a compact JWS (RFC 7515 §7.1) without trusting any of it. */
export function decodeJwt(token: string): DecodedJwt {
  if (token.length > MAX_TOKEN_BYTES) throw authFailure('malformed_token', 'token too large');
  const parts = token.split('.');
  if (parts.length !== 3) throw authFailure('malformed_token', 'not a compact JWS');
  const header = json(parts[0]!, 'header');
  if (typeof header.alg !== 'string') throw authFailure('malformed_token', 'header has no alg');
  if (header.kid !== undefined && typeof header.kid !== 'string') throw authFailure('malformed_token', 'kid is not a string');
  const payload = json(parts[1]!, 'payload') as JwtPayload;
  return {
    header: header as unknown as JwtHeader,
    payload,
    signingInput: Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii'),
    signature: b64url(parts[2]!, 'signature'),
  };
}

/**
 * RS256 = RSASSA-PKCS1-v1_5 SHA-256; ES256 = ECDSA P-256 SHA-256 with the raw
 * r||s signature (RFC 7518 §3.4), hence ieee-p1363 encoding.
 */
export function verifyJwsSignature(alg: JwtAlg, key: crypto.KeyObject, input: Buffer, signature: Buffer): boolean {
  try {
    if (alg === 'ES256') {
      if (signature.length !== 64) return false;
      return crypto.verify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, signature);
    }
    return crypto.verify('sha256', input, key, signature);
  } catch {
    return false;
  }
}

export function signJwt(header: JwtHeader & { alg: JwtAlg }, payload: Record<string, unknown>, key: crypto.KeyObject): string {
  const h = Buffer.from(JSON.stringify(header)).toString('base64url');
  const p = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const input = Buffer.from(`${h}.${p}`, 'ascii');
  const sig = header.alg === 'ES256' ? crypto.sign('sha256', input, { key, dsaEncoding: 'ieee-p1363' }) : crypto.sign('sha256', input, key);
  return `${h}.${p}.${sig.toString('base64url')}`;
}
