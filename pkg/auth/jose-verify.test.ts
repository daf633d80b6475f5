// Edges of the jose-based verifier (jwt.ts, jwks.ts) that auth.test.ts does not reach: which JWKS entries
// become keys, what a key-set change does to generation(), and headers jose must refuse.
import t from 'tap';
import * as crypto from 'node:crypto';
import { DaemonError } from '../errors';
import { createSilentLogger } from '../log';
import { AUTHENTICATION_FAILED, parseJwks, RefreshingKeySet, signJwt, StaticKeySet, TokenAuthenticator } from './index';
import type { JsonWebKeySet } from './index';

const ISS = 'https://issuer.test';
const nowMs = Date.UTC(2026, 5, 1);
let mono = 1_000_000;
const clock = { now: () => nowMs, monotonic: () => mono };
const s = Math.floor(nowMs / 1000);
const claims = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: ISS,
  sub: 'system:serviceaccount:ns1:sa1',
  aud: 'istio-ca',
  iat: s,
  exp: s + 600,
  ...over,
});
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = (k: crypto.KeyObject, kid: string, extra: Record<string, unknown> = {}) => ({
  ...k.export({ format: 'jwk' }),
  kid,
  ...extra,
});

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (e) {
    if (e instanceof DaemonError && e.publicMessage === AUTHENTICATION_FAILED) return e.code;
    return `unexpected:${(e as Error).message}`;
  }
}

t.test('JWKS entries: only usable public signing keys become keys', async (t) => {
  const small = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
  const p384 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const skipped: string[] = [];
  const keys = await parseJwks(
    {
      keys: [
        jwk(ec.privateKey, 'with-d'), // carries "d": must come out as a public key
        jwk(rsa.publicKey, 'r1', { alg: 'RS256', use: 'sig' }),
        jwk(small.publicKey, 'small'),
        jwk(p384.publicKey, 'p384'),
        jwk(ec.publicKey, 'enc', { use: 'enc' }),
        jwk(ec.publicKey, 'mismatch', { alg: 'RS256' }),
        { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' },
      ],
    },
    (why) => skipped.push(why.split(':')[0]!),
  );
  t.same(
    keys.map((k) => [k.kid, k.alg, k.key.type]),
    [
      ['with-d', 'ES256', 'public'],
      ['r1', 'RS256', 'public'],
    ],
  );
  t.same(skipped, ['key small', 'key p384', 'key enc', 'key mismatch', 'key hmac'], 'each unusable entry reported');
  t.throws(() => new StaticKeySet({} as JsonWebKeySet), /no keys array/, 'a set without keys fails at once');
});

t.test('generation(): same keys reloaded → unchanged; a rotated key → bumped', async (t) => {
  let served: JsonWebKeySet = { keys: [jwk(ec.publicKey, 'e1')] };
  const keys = new RefreshingKeySet({
    loader: async () => served,
    source: 'test',
    clock,
    logger: createSilentLogger(),
    minRefreshIntervalMs: 0,
  });
  await keys.reload();
  const g0 = keys.generation();
  await keys.reload();
  t.equal(keys.generation(), g0, 'same contents, same generation');
  served = { keys: [jwk(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, 'e1')] };
  mono += 1;
  await keys.reload();
  t.equal(keys.generation(), g0 + 1, 'a different key under the same kid is a change');
});

t.test('headers and claims jose refuses map onto our reasons', async (t) => {
  const keys = new StaticKeySet({ keys: [jwk(ec.publicKey, 'e1'), jwk(rsa.publicKey, 'r1')] });
  const issuers = [{ issuer: ISS, keys, method: 'jwt' as const }];
  const auth = new TokenAuthenticator({ issuers, trustDomain: 'td', clock, cacheSize: 0 });
  const es = (c: Record<string, unknown>, h: Record<string, unknown> = {}): string =>
    signJwt({ alg: 'ES256', kid: 'e1', ...h }, c, ec.privateKey);
  t.equal(await reason(auth.verify(es(claims()))), 'accepted', 'a plain ES256 token is accepted');
  t.equal(
    await reason(auth.verify(es(claims(), { crit: ['x-unknown'], 'x-unknown': 1 }))),
    'auth.malformed_token',
    'an unknown critical header is refused',
  );
  t.equal(await reason(auth.verify(es(claims({ exp: '2030-01-01' })))), 'auth.malformed_token', 'exp not a number');
  t.equal(await reason(auth.verify(es(claims({ iat: 'yesterday' })))), 'auth.malformed_token', 'iat not a number');
  t.equal(await reason(auth.verify(es(claims({ exp: 1e308 })))), 'auth.malformed_token', 'exp beyond year 9999');
  t.equal(await reason(auth.verify(es(claims({ aud: undefined })))), 'auth.wrong_audience', 'no aud at all');
  t.equal(await reason(auth.verify(es(claims({ exp: s - 31 })))), 'auth.expired', 'just past the 30 s skew');
  t.equal(await reason(auth.verify(es(claims({ nbf: s + 29 })))), 'accepted', 'nbf within the skew');
  t.equal(
    await reason(auth.verify(es(claims(), { kid: undefined }))),
    'accepted',
    'no kid: the one ES256 key of the set is unambiguous',
  );
  t.equal(await reason(auth.verify(es(claims(), { kid: 'r1' }))), 'auth.unknown_kid', "the RSA key's kid on ES256");
});
