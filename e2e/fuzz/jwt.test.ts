import t from 'tap';
import * as crypto from 'node:crypto';
import { DaemonError, GrpcCode } from '../../pkg/errors';
import { AUTHENTICATION_FAILED, StaticKeySet, TokenAuthenticator, signJwt, type JwtAlg } from '../../pkg/auth';
import { Rng, mutateBytes, Outcomes, heapBound, CASE_BOUND_MS } from './mutate';

const SEED = 0x1a7;
const CASES = 10_000;
const ISS = 'https://kubernetes.default.svc.cluster.local';

t.test(`JWT authentication: ${CASES} mutated tokens, seed ${SEED}`, async (t) => {
  t.comment(`fuzz seed ${SEED}`);
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = (k: crypto.KeyObject, kid: string, alg: string): Record<string, unknown> => ({
    ...k.export({ format: 'jwk' }),
    kid,
    alg,
    use: 'sig',
  });
  const keys = new StaticKeySet({ keys: [jwk(ec.publicKey, 'ec1', 'ES256'), jwk(rsa.publicKey, 'rsa1', 'RS256')] });
  const auth = new TokenAuthenticator({
    issuers: [{ issuer: ISS, keys, method: 'jwt' }],
    trustDomain: 'cluster.local',
    cacheSize: 256,
  });
  const now = Math.floor(Date.now() / 1000);
  const payload = (ns: string, sa: string): Record<string, unknown> => ({
    iss: ISS,
    aud: ['istio-ca'],
    sub: `system:serviceaccount:${ns}:${sa}`,
    iat: now,
    nbf: now - 10,
    exp: now + 3600,
    'kubernetes.io': {
      namespace: ns,
      serviceaccount: { name: sa, uid: 'u' },
      pod: { name: 'p', uid: 'pu' },
      node: { name: 'n1' },
    },
  });
  const signers: [JwtAlg, string, crypto.KeyObject][] = [
    ['ES256', 'ec1', ec.privateKey],
    ['RS256', 'rsa1', rsa.privateKey],
  ];
  const seeds = signers.map(([alg, kid, key]) =>
    signJwt({ alg, kid, typ: 'JWT' }, payload('istio-system', 'ztunnel'), key),
  );
  for (const s of seeds)
    t.match(
      await auth.verify(s),
      {
        namespace: 'istio-system',
        serviceAccount: 'ztunnel',
        spiffeId: 'spiffe://cluster.local/ns/istio-system/sa/ztunnel',
      },
      'valid token accepted',
    );

  const rng = new Rng(SEED);
  const out = new Outcomes();
  const unclear: string[] = [];
  const forged: string[] = [];
  const heap0 = process.memoryUsage().heapUsed;
  const b64 = (o: unknown): string => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
  for (let i = 0; i < CASES; i++) {
    const k = rng.int(seeds.length);
    const [alg, kid, key] = signers[k]!;
    let token: string;
    let resigned = false;
    let header = 'Bearer ';
    const mode = rng.int(10);
    if (mode < 4) {
      // Bytes of the token itself (signature no longer matches unless only unsigned bits changed).
      token = mutateBytes(
        rng,
        Buffer.from(seeds[k]!),
        seeds.map((s) => Buffer.from(s)),
      ).toString('latin1');
    } else if (mode < 7) {
      // Claims mutated and properly re-signed: the claim checks must hold on their own.
      const p = payload(
        rng.pick(['istio-system', 'default', 'ns:x', '', 'a/b']),
        rng.pick(['ztunnel', 'sa', '', 'x:y']),
      );
      const field = rng.pick(['iss', 'aud', 'sub', 'exp', 'nbf', 'kubernetes.io', 'iat', 'extra']);
      p[field] = rng.pick<unknown>([
        undefined,
        null,
        0,
        -1,
        1e308,
        now - 7200,
        now + 7200,
        'x',
        '',
        [],
        ['istio-ca'],
        {},
        { namespace: 'other' },
        ISS,
        'system:serviceaccount:a:b:c',
        true,
      ]);
      token = signJwt({ alg, kid: rng.chance(0.9) ? kid : rng.pick(['nope', '', 'rsa1', 'ec1']), typ: 'JWT' }, p, key);
      resigned = true;
    } else if (mode < 9) {
      // A forged or confused header with the original payload and signature.
      const [, p, s] = seeds[k]!.split('.') as [string, string, string];
      const h = rng.pick<unknown>([
        { alg: 'none' },
        { alg: 'HS256', kid },
        { alg: 'ES256', kid: 'rsa1' },
        { alg: 'RS256', kid: 'ec1' },
        { alg: 'PS256', kid },
        { kid },
        { alg: 1 },
        'not json',
        [],
        { alg, kid, crit: ['x'] },
        { alg, kid: 'x'.repeat(10_000) },
      ]);
      token = `${b64(h)}.${p}.${rng.chance(0.3) ? '' : s}`;
    } else {
      token = seeds[k]!;
      header = rng.pick([
        '',
        'Basic ',
        'bearer ',
        'Bearer  ',
        'Bearer\t',
        'Bearer x ',
        'Bearer ' + 'a'.repeat(20_000) + ' ',
      ]);
    }
    const t0 = performance.now();
    try {
      const id = await auth.authenticate({ metadata: { authorization: [header + token] } });
      if (!resigned && id.spiffeId !== 'spiffe://cluster.local/ns/istio-system/sa/ztunnel')
        forged.push(`case ${i}: ${id.spiffeId}`);
      if (!/^spiffe:\/\/cluster\.local\/ns\/[^/]+\/sa\/[^/]+$/.test(id.spiffeId))
        forged.push(`case ${i}: bad id ${id.spiffeId}`);
      out.add('accepted');
    } catch (e) {
      if (
        e instanceof DaemonError &&
        e.code.startsWith('auth.') &&
        e.grpcCode === GrpcCode.UNAUTHENTICATED &&
        e.publicMessage === AUTHENTICATION_FAILED
      )
        out.add(e.code);
      else if (unclear.length < 50)
        unclear.push(`case ${i}: ${(e as Error)?.constructor?.name} ${(e as Error)?.message?.slice(0, 200)}`);
      else out.add('unclear');
    }
    out.time(`case ${i}`, performance.now() - t0);
  }
  const heap1 = process.memoryUsage().heapUsed;
  t.comment(
    `outcomes: ${out.summary()}; slowest ${out.maxCaseMs.toFixed(1)} ms (${out.slowest}); ` +
      `heap ${(heap0 / 1e6).toFixed(0)} -> ${(heap1 / 1e6).toFixed(0)} MB`,
  );
  t.equal(out.total() + unclear.length, CASES, 'every case ran');
  // Known bug (reported, pkg/auth is not ours): a signed token whose nbf/exp is beyond the Date range (1e308)
  // makes checkTimes format new Date(Infinity) and throw a bare RangeError instead of auth.not_yet_valid/expired.
  const dateRange = unclear.filter((u) => u.includes('RangeError Invalid time value'));
  t.same(
    unclear.filter((u) => !dateRange.includes(u)),
    [],
    'every rejection is auth.* UNAUTHENTICATED with the opaque public message',
  );
  t.same(dateRange, [], 'absurd exp/nbf (e.g. 1e308) are auth.malformed_token, never a RangeError');
  t.same(forged, [], 'no token with a changed identity accepted without a valid signature');
  for (const code of [
    'auth.bad_signature',
    'auth.unsupported_alg',
    'auth.malformed_token',
    'auth.wrong_audience',
    'auth.bad_subject',
  ])
    t.ok(out.counts.get(code), `${code} seen`);
  t.ok(out.maxCaseMs < CASE_BOUND_MS, 'no case hung');
  t.ok(heap1 < heapBound(heap0), 'heap bounded');
  for (const s of seeds)
    t.match(await auth.verify(s), { serviceAccount: 'ztunnel' }, 'valid token still accepted after the run');
});
