// Shared fixtures for the auth test files: a fixed clock, key pairs, a claims builder and the refusal reader.
import * as crypto from 'node:crypto';
import { createSilentLogger } from '../../log';
import type { CallContext } from '../index';

export const logger = createSilentLogger();
export const ISS = 'https://kubernetes.default.svc.cluster.local';
/** Mutable test time: tests move it forward (and back) to cross expiry and refresh intervals. */
export const time = { nowMs: Date.UTC(2026, 0, 1), mono: 1_000_000 };
export const clock = { now: () => time.nowMs, monotonic: () => time.mono };

export const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
export const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
export const ec2 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
export const jwk = (k: crypto.KeyObject, kid: string) => ({ ...k.export({ format: 'jwk' }), kid, use: 'sig' });

export function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const s = Math.floor(time.nowMs / 1000);
  return {
    iss: ISS,
    sub: 'system:serviceaccount:istio-system:ztunnel',
    aud: ['istio-ca'],
    iat: s,
    nbf: s,
    exp: s + 3600,
    'kubernetes.io': {
      namespace: 'istio-system',
      pod: { name: 'ztunnel-abc', uid: 'u1' },
      node: { name: 'node-a', uid: 'n1' },
      serviceaccount: { name: 'ztunnel', uid: 's1' },
    },
    ...over,
  };
}
export const bearer = (tok: string): CallContext => ({ metadata: { authorization: [`Bearer ${tok}`] } });

export async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    const err = e as { code: string; grpcCode: number; publicMessage: string };
    if (err.grpcCode === 16 && err.publicMessage === 'authentication failed') return err.code;
    if (err.grpcCode === 7 && err.publicMessage === 'permission denied') return err.code;
    return `unexpected:${err.code}/${err.grpcCode}/${err.publicMessage}`;
  }
  return 'accepted';
}
export function reasonSync(fn: () => unknown): Promise<string> {
  return reason((async () => fn())());
}
