import t from 'tap';
import * as crypto from 'node:crypto';
import { createSilentLogger } from '../log';
import { RefreshingKeySet, signJwt, StaticKeySet, TokenAuthenticator } from './index';
import type { JsonWebKeySet, KeySet } from './index';

const logger = createSilentLogger();
const ISS = 'https://kubernetes.default.svc.cluster.local';
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec2 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = (k: crypto.KeyObject, kid: string) => ({ ...k.export({ format: 'jwk' }), kid, use: 'sig' });

function setup(keys: KeySet, cacheSize = 100) {
  const c = { nowMs: Date.UTC(2026, 0, 1), mono: 1_000_000 };
  const clock = { now: () => c.nowMs, monotonic: () => c.mono };
  // Counts every key lookup: a lookup happens exactly when a token is verified from scratch.
  let lookups = 0;
  const counting: KeySet = {
    getKey: (kid, alg) => (lookups++, keys.getKey(kid, alg)),
    generation: () => keys.generation(),
  };
  const issuers = [{ issuer: ISS, keys: counting, method: 'jwt' as const }];
  const auth = new TokenAuthenticator({ issuers, trustDomain: 'cluster.local', clock, cacheSize });
  const token = (kid: string, key: crypto.KeyObject, over: Record<string, unknown> = {}) => {
    const s = Math.floor(c.nowMs / 1000);
    return signJwt(
      { alg: 'ES256', kid },
      {
        iss: ISS,
        sub: 'system:serviceaccount:istio-system:ztunnel',
        aud: ['istio-ca'],
        iat: s,
        exp: s + 600,
        'kubernetes.io': { namespace: 'istio-system', node: { name: 'node-a' } },
        ...over,
      },
      key,
    );
  };
  const outcome = async (tok: string): Promise<string> => {
    try {
      await auth.verify(tok);
      return 'accepted';
    } catch (e) {
      return (e as { code: string }).code;
    }
  };
  return { c, clock, auth, token, outcome, lookups: () => lookups };
}

t.test('a verified token is not verified again until its exp', async (t) => {
  const s = setup(new StaticKeySet({ keys: [jwk(ec.publicKey, 'e1')] }));
  const tok = s.token('e1', ec.privateKey);
  t.equal(await s.outcome(tok), 'accepted');
  t.equal(await s.outcome(tok), 'accepted');
  t.equal(await s.outcome(tok), 'accepted');
  t.equal(s.lookups(), 1, 'one verification for three requests');
  s.c.nowMs += 599_000;
  t.equal(await s.outcome(tok), 'accepted', 'still served just before exp');
  t.equal(s.lookups(), 1);
  s.c.nowMs += 1_000;
  t.equal(await s.outcome(tok), 'accepted', 'at exp the entry is gone; full verification accepts it within the skew');
  t.equal(s.lookups(), 2, 'verified again at exp');
  t.equal(await s.outcome(tok), 'accepted');
  t.equal(s.lookups(), 3, 'a token past its exp is not cached again');
  s.c.nowMs += 31_000;
  t.equal(await s.outcome(tok), 'auth.expired', 'past exp + skew: refused');
});

t.test('failures are never cached', async (t) => {
  const s = setup(new StaticKeySet({ keys: [jwk(ec.publicKey, 'e1')] }));
  const forged = s.token('e1', ec2.privateKey);
  t.equal(await s.outcome(forged), 'auth.bad_signature');
  t.equal(await s.outcome(forged), 'auth.bad_signature');
  t.equal(s.lookups(), 2, 'each attempt verified');
  const wrongAud = s.token('e1', ec.privateKey, { aud: ['kubernetes'] });
  t.equal(await s.outcome(wrongAud), 'auth.wrong_audience');
  t.equal(await s.outcome(wrongAud), 'auth.wrong_audience');
  t.equal(s.lookups(), 4);
});

t.test('bounded: the oldest entry is evicted', async (t) => {
  const s = setup(new StaticKeySet({ keys: [jwk(ec.publicKey, 'e1')] }), 2);
  const toks = ['a', 'b', 'c'].map((n) => s.token('e1', ec.privateKey, { jti: n }));
  for (const tok of toks) t.equal(await s.outcome(tok), 'accepted');
  t.equal(s.lookups(), 3);
  t.equal(await s.outcome(toks[2]!), 'accepted');
  t.equal(await s.outcome(toks[1]!), 'accepted');
  t.equal(s.lookups(), 3, 'the two newest are cached');
  t.equal(await s.outcome(toks[0]!), 'accepted');
  t.equal(s.lookups(), 4, 'the oldest was evicted and verified again');
});

t.test('key rotation and removal drop cached verifications', async (t) => {
  let served: JsonWebKeySet = { keys: [jwk(ec.publicKey, 'e1')] };
  let loads = 0;
  const c = { mono: 1_000_000 };
  const keys = new RefreshingKeySet({
    loader: async () => (loads++, served),
    source: 'test',
    logger,
    minRefreshIntervalMs: 30_000,
    maxAgeMs: 600_000,
    clock: { now: () => Date.UTC(2026, 0, 1), monotonic: () => c.mono },
  });
  const s = setup(keys);
  const tok = s.token('e1', ec.privateKey);
  t.equal(await s.outcome(tok), 'accepted');
  t.equal(await s.outcome(tok), 'accepted');
  t.equal(s.lookups(), 1, 'cached');
  // The same keys reloaded: nothing changed, the entry stays.
  await keys.reload();
  t.equal(await s.outcome(tok), 'accepted');
  t.equal(s.lookups(), 1, 'an unchanged reload keeps the entry');
  // The issuer rotates: e1 removed, e2 added; the next reload happens because the set is stale.
  served = { keys: [jwk(ec2.publicKey, 'e2')] };
  c.mono += 600_001;
  const before = loads;
  t.equal(await s.outcome(tok), 'accepted', 'served while the background reload runs');
  t.equal(loads, before + 1, 'a cache hit on a stale set started one reload');
  t.ok(await keys.getKey('e2', 'ES256'), 'the reload (awaited, not repeated) brought e2');
  t.equal(loads, before + 1, 'still one reload');
  t.equal(await s.outcome(tok), 'auth.unknown_kid', 'e1 removed: the cached verification is gone, the token refused');
  t.equal(await s.outcome(s.token('e2', ec2.privateKey)), 'accepted', 'the new key works');
  // A failed reload is not a rotation: cached entries stay.
  const tok2 = s.token('e2', ec2.privateKey, { jti: 'x' });
  t.equal(await s.outcome(tok2), 'accepted');
  const n = s.lookups();
  served = undefined as unknown as JsonWebKeySet;
  c.mono += 600_001;
  await keys.reload();
  t.equal(await s.outcome(tok2), 'accepted');
  t.equal(s.lookups(), n, 'kept across a failed reload');
});

t.test('the remembered last token only saves its digest: evicted or expired entries are verified again', async (t) => {
  const s = setup(new StaticKeySet({ keys: [jwk(ec.publicKey, 'e1')] }), 1);
  const [a, b] = ['a', 'b'].map((n) => s.token('e1', ec.privateKey, { jti: n })) as [string, string];
  t.equal(await s.outcome(a), 'accepted');
  t.equal(await s.outcome(b), 'accepted', 'b evicts a');
  t.equal(await s.outcome(b), 'accepted');
  t.equal(s.lookups(), 2, 'the repeat of b is served from the cache');
  t.equal(await s.outcome(a), 'accepted');
  t.equal(s.lookups(), 3, 'a, evicted, is verified again');
  t.equal(await s.outcome(b), 'accepted');
  t.equal(s.lookups(), 4, 'b, evicted by a, is verified again');
  s.c.nowMs += 600_000 + 31_000;
  t.equal(await s.outcome(b), 'auth.expired', 'the same token, repeated past exp + skew: refused');
  t.equal(await s.outcome(b), 'auth.expired', 'and again');
});
