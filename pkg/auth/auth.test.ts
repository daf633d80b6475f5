// Token verification: the JWT matrix, the verified-token cache and a seeded mutation fuzz.
import t from 'tap';
import * as crypto from 'node:crypto';
import { RefreshingKeySet, signJwt, TokenAuthenticator } from './index';
import type { JsonWebKeySet } from './index';
import { bearer, claims, clock, ec, ec2, ISS, jwk, logger, reason, rsa, time } from './testing/auth-fixtures';

t.test('JWT matrix', async (t) => {
  let served: JsonWebKeySet = { keys: [jwk(rsa.publicKey, 'r1'), jwk(ec.publicKey, 'e1')] };
  let loads = 0;
  const keys = new RefreshingKeySet({
    loader: async () => (loads++, served),
    source: 'test',
    clock,
    logger,
    minRefreshIntervalMs: 30_000,
  });
  const auth = new TokenAuthenticator({
    issuers: [{ issuer: ISS, keys, method: 'jwt' }],
    trustDomain: 'cluster.local',
    clock,
    cacheSize: 0,
  });

  const good = signJwt({ alg: 'RS256', kid: 'r1' }, claims(), rsa.privateKey);
  const id = await auth.authenticate(bearer(good));
  t.same(
    id,
    {
      spiffeId: 'spiffe://cluster.local/ns/istio-system/sa/ztunnel',
      trustDomain: 'cluster.local',
      namespace: 'istio-system',
      serviceAccount: 'ztunnel',
      method: 'jwt',
      podName: 'ztunnel-abc',
      podUid: 'u1',
      nodeName: 'node-a',
    },
    'RS256 accepted, pod/node from kubernetes.io claims',
  );
  t.equal(
    await reason(auth.authenticate(bearer(signJwt({ alg: 'ES256', kid: 'e1' }, claims(), ec.privateKey)))),
    'accepted',
    'ES256 accepted',
  );

  const s = Math.floor(time.nowMs / 1000);
  const cases: Array<[string, string, string]> = [
    ['expired', signJwt({ alg: 'RS256', kid: 'r1' }, claims({ exp: s - 120 }), rsa.privateKey), 'auth.expired'],
    [
      'not yet valid',
      signJwt({ alg: 'RS256', kid: 'r1' }, claims({ nbf: s + 600 }), rsa.privateKey),
      'auth.not_yet_valid',
    ],
    [
      'wrong audience',
      signJwt({ alg: 'RS256', kid: 'r1' }, claims({ aud: ['kubernetes'] }), rsa.privateKey),
      'auth.wrong_audience',
    ],
    [
      'wrong issuer',
      signJwt({ alg: 'RS256', kid: 'r1' }, claims({ iss: 'https://evil' }), rsa.privateKey),
      'auth.wrong_issuer',
    ],
    [
      'not a service account',
      signJwt({ alg: 'RS256', kid: 'r1' }, claims({ sub: 'alice' }), rsa.privateKey),
      'auth.bad_subject',
    ],
    [
      'missing exp',
      signJwt({ alg: 'RS256', kid: 'r1' }, claims({ exp: undefined }), rsa.privateKey),
      'auth.malformed_token',
    ],
    ['key of the other type', signJwt({ alg: 'ES256', kid: 'r1' }, claims(), ec.privateKey), 'auth.unknown_kid'],
  ];
  for (const [name, tok, want] of cases) t.equal(await reason(auth.authenticate(bearer(tok))), want, name);
  // Within skew: expired 10 s ago is still fine (30 s skew).
  t.equal(
    await reason(
      auth.authenticate(bearer(signJwt({ alg: 'RS256', kid: 'r1' }, claims({ exp: s - 10 }), rsa.privateKey))),
    ),
    'accepted',
    'within skew',
  );

  const [h, p, sig] = good.split('.') as [string, string, string];
  const forged = Buffer.from(JSON.stringify(claims({ sub: 'system:serviceaccount:kube-system:admin' }))).toString(
    'base64url',
  );
  t.equal(await reason(auth.authenticate(bearer(`${h}.${forged}.${sig}`))), 'auth.bad_signature', 'tampered payload');
  const none = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
  t.equal(await reason(auth.authenticate(bearer(`${none}.${p}.`))), 'auth.unsupported_alg', 'alg none');
  const hsHeader = Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'r1' })).toString('base64url');
  const hmac = crypto
    .createHmac('sha256', rsa.publicKey.export({ type: 'spki', format: 'pem' }))
    .update(`${hsHeader}.${p}`)
    .digest('base64url');
  t.equal(
    await reason(auth.authenticate(bearer(`${hsHeader}.${p}.${hmac}`))),
    'auth.unsupported_alg',
    'HS256 with the public key as secret',
  );
  t.equal(await reason(auth.authenticate(bearer('a.b'))), 'auth.malformed_token', 'two parts');
  t.equal(await reason(auth.authenticate(bearer('!!.??.**'))), 'auth.malformed_token', 'not base64url');
  t.equal(await reason(auth.authenticate({ metadata: {} })), 'auth.no_credentials', 'no header');
  t.equal(
    await reason(auth.authenticate({ metadata: { authorization: ['Basic Zm9vOmJhcg=='] } })),
    'auth.malformed_token',
    'not bearer',
  );

  // Unknown kid: the issuer rotated. One reload picks the new key up...
  const loadsBefore = loads;
  const rotated = signJwt({ alg: 'ES256', kid: 'e2' }, claims(), ec2.privateKey);
  time.mono += 31_000;
  served = { keys: [...served.keys, jwk(ec2.publicKey, 'e2')] };
  t.equal(await reason(auth.authenticate(bearer(rotated))), 'accepted', 'unknown kid → refresh → accepted');
  t.equal(loads, loadsBefore + 1, 'exactly one reload');
  // ...and a flood of bogus kids does not turn into a flood of fetches.
  for (let i = 0; i < 5; i++) {
    t.equal(
      await reason(auth.authenticate(bearer(signJwt({ alg: 'ES256', kid: `bogus${i}` }, claims(), ec2.privateKey)))),
      'auth.unknown_kid',
    );
  }
  t.equal(loads, loadsBefore + 1, 'refresh is rate-limited');
  time.mono += 31_000;
  await reason(auth.authenticate(bearer(signJwt({ alg: 'ES256', kid: 'bogus' }, claims(), ec2.privateKey))));
  t.equal(loads, loadsBefore + 2, 'refreshes again after the interval');
  // A failing loader keeps the last good keys.
  served = undefined as unknown as JsonWebKeySet;
  time.mono += 31_000;
  t.equal(
    await reason(auth.authenticate(bearer(signJwt({ alg: 'ES256', kid: 'nope' }, claims(), ec2.privateKey)))),
    'auth.unknown_kid',
  );
  t.equal(await reason(auth.authenticate(bearer(good))), 'accepted', 'last good key set kept');
});

t.test('verified-token cache still enforces expiry', async (t) => {
  const keys = new RefreshingKeySet({
    loader: async () => ({ keys: [jwk(ec.publicKey, 'e1')] }),
    source: 'test',
    clock,
    logger,
  });
  const auth = new TokenAuthenticator({ issuers: [{ issuer: ISS, keys, method: 'jwt' }], trustDomain: 'td', clock });
  const s = Math.floor(time.nowMs / 1000);
  const tok = signJwt({ alg: 'ES256', kid: 'e1' }, claims({ exp: s + 40 }), ec.privateKey);
  const a = await auth.authenticate(bearer(tok));
  t.equal(a.spiffeId, 'spiffe://td/ns/istio-system/sa/ztunnel');
  t.equal(await auth.authenticate(bearer(tok)), a, 'second call served from cache');
  const saved = time.nowMs;
  time.nowMs += 120_000;
  t.equal(await reason(auth.authenticate(bearer(tok))), 'auth.expired', 'cached token expires');
  time.nowMs = saved;
});

t.test('mutated tokens fail only with auth.* Unauthenticated errors (seeded fuzz)', async (t) => {
  const keys = new RefreshingKeySet({
    loader: async () => ({ keys: [jwk(ec.publicKey, 'e1'), jwk(rsa.publicKey, 'r1')] }),
    source: 'test',
    clock,
    logger,
  });
  const auth = new TokenAuthenticator({
    issuers: [{ issuer: ISS, keys, method: 'jwt' }],
    trustDomain: 'cluster.local',
    clock,
    cacheSize: 0,
  });
  const goods = [
    signJwt({ alg: 'ES256', kid: 'e1' }, claims(), ec.privateKey),
    signJwt({ alg: 'RS256', kid: 'r1' }, claims(), rsa.privateKey),
  ];
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ';
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const unexpected: string[] = [];
  let accepted = 0;
  for (let i = 0; i < 600; i++) {
    const g = goods[i % 2]!;
    const pos = Math.floor(rnd() * g.length);
    const tok = g.slice(0, pos) + alphabet[Math.floor(rnd() * alphabet.length)]! + g.slice(pos + (rnd() < 0.5 ? 1 : 0));
    const r = await reason(auth.authenticate(bearer(tok)));
    if (r === 'accepted') {
      accepted++;
      const around = (s: string): string => JSON.stringify(s.slice(Math.max(0, pos - 3), pos + 3));
      t.comment(`accepted mutation at ${pos}/${g.length}: ${around(tok)} vs ${around(g)}`);
    } else if (!r.startsWith('auth.')) unexpected.push(`${i}: ${r}`);
  }
  t.same(unexpected.slice(0, 5), [], 'every refusal is an opaque auth.* Unauthenticated');
  // base64url has spare bits in the last character: a handful of edits decode to the same bytes.
  t.ok(accepted < 30, `few mutations survive (${accepted})`);
});
