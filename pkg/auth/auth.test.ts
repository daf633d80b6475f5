import t from 'tap';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createSilentLogger } from '../log';
import {
  authorizeImpersonation,
  authorizeNodeNamespace,
  BootstrapIssuer,
  CompositeAuthenticator,
  InsecureAuthenticator,
  MtlsAuthenticator,
  fileJwksLoader,
  httpsFetcher,
  RefreshingKeySet,
  signJwt,
  TokenAuthenticator,
  urlJwksLoader,
} from './index';
import type { CallContext, CallerIdentity, JsonWebKeySet, WorkloadPlacement } from './index';

const logger = createSilentLogger();
const ISS = 'https://kubernetes.default.svc.cluster.local';
let nowMs = Date.UTC(2026, 0, 1);
let mono = 1_000_000;
const clock = { now: () => nowMs, monotonic: () => mono };

const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec2 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = (k: crypto.KeyObject, kid: string) => ({ ...k.export({ format: 'jwk' }), kid, use: 'sig' });

function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const s = Math.floor(nowMs / 1000);
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
const bearer = (tok: string): CallContext => ({ metadata: { authorization: [`Bearer ${tok}`] } });

async function reason(p: Promise<unknown>): Promise<string> {
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
function reasonSync(fn: () => unknown): Promise<string> {
  return reason((async () => fn())());
}

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

  const s = Math.floor(nowMs / 1000);
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
  mono += 31_000;
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
  mono += 31_000;
  await reason(auth.authenticate(bearer(signJwt({ alg: 'ES256', kid: 'bogus' }, claims(), ec2.privateKey))));
  t.equal(loads, loadsBefore + 2, 'refreshes again after the interval');
  // A failing loader keeps the last good keys.
  served = undefined as unknown as JsonWebKeySet;
  mono += 31_000;
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
  const s = Math.floor(nowMs / 1000);
  const tok = signJwt({ alg: 'ES256', kid: 'e1' }, claims({ exp: s + 40 }), ec.privateKey);
  const a = await auth.authenticate(bearer(tok));
  t.equal(a.spiffeId, 'spiffe://td/ns/istio-system/sa/ztunnel');
  t.equal(await auth.authenticate(bearer(tok)), a, 'second call served from cache');
  const saved = nowMs;
  nowMs += 120_000;
  t.equal(await reason(auth.authenticate(bearer(tok))), 'auth.expired', 'cached token expires');
  nowMs = saved;
});

t.test('JWKS from an issuer URL (OIDC discovery) over real HTTP', async (t) => {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration')
      res.end(JSON.stringify({ issuer: base, jwks_uri: `${base}/openid/v1/jwks` }));
    else if (req.url === '/openid/v1/jwks') res.end(JSON.stringify({ keys: [jwk(rsa.publicKey, 'r1')] }));
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const keys = new RefreshingKeySet({ loader: urlJwksLoader({ issuer }), source: issuer, clock, logger });
  const auth = new TokenAuthenticator({
    issuers: [{ issuer, keys, method: 'jwt', audiences: ['istio-ca'] }],
    trustDomain: 'cluster.local',
    clock,
  });
  const id = await auth.authenticate(
    bearer(signJwt({ alg: 'RS256', kid: 'r1' }, claims({ iss: issuer }), rsa.privateKey)),
  );
  t.equal(id.serviceAccount, 'ztunnel');
  t.equal(hits, 2, 'discovery + JWKS');
  // An unreachable issuer refuses (keys_unavailable), it does not throw something else.
  const dead = new RefreshingKeySet({
    loader: urlJwksLoader({ issuer: 'http://127.0.0.1:1' }),
    source: 'dead',
    clock,
    logger,
  });
  const auth2 = new TokenAuthenticator({
    issuers: [{ issuer: 'x', keys: dead, method: 'jwt' }],
    trustDomain: 'td',
    clock,
  });
  t.equal(
    await reason(
      auth2.authenticate(bearer(signJwt({ alg: 'RS256', kid: 'r1' }, claims({ iss: 'x' }), rsa.privateKey))),
    ),
    'auth.keys_unavailable',
  );
});

t.test('bootstrap tokens: persisted ES256 issuer, verified by the same path', async (t) => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'auth-test-'));
  t.teardown(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const b = BootstrapIssuer.open({ stateDir, trustDomain: 'cluster.local', clock });
  t.equal(fs.statSync(path.join(stateDir, 'bootstrap', 'issuer-key.pem')).mode & 0o777, 0o600, 'issuer key 0600');
  const tok = b.createBootstrapToken({ namespace: 'vm', serviceAccount: 'db', node: 'vm-1', ttlSeconds: 3600 });
  const again = BootstrapIssuer.open({ stateDir, trustDomain: 'cluster.local', clock });
  t.same(again.jwks(), b.jwks(), 'same key after restart');
  for (const k of b.jwks().keys) t.notOk('d' in k, 'JWKS is public only');
  const auth = new TokenAuthenticator({ issuers: [again.trustedIssuer()], trustDomain: 'cluster.local', clock });
  const id = await auth.authenticate(bearer(tok));
  t.same(id, {
    spiffeId: 'spiffe://cluster.local/ns/vm/sa/db',
    trustDomain: 'cluster.local',
    namespace: 'vm',
    serviceAccount: 'db',
    method: 'bootstrap',
    nodeName: 'vm-1',
  });
  t.throws(
    () => b.createBootstrapToken({ namespace: 'a/b', serviceAccount: 'x', ttlSeconds: 60 }),
    { code: 'x509.bad_spiffe_id' },
    'bad namespace refused',
  );
  t.throws(
    () => b.createBootstrapToken({ namespace: 'a', serviceAccount: 'x', ttlSeconds: 0 }),
    { code: 'auth.bootstrap_bad_ttl' },
    'ttl 0 refused',
  );
  // A token from another daemon's issuer (same issuer name, other key) is refused.
  const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'auth-test-'));
  t.teardown(() => fs.rmSync(otherDir, { recursive: true, force: true }));
  const other = BootstrapIssuer.open({ stateDir: otherDir, trustDomain: 'cluster.local', clock });
  t.equal(
    await reason(
      auth.authenticate(bearer(other.createBootstrapToken({ namespace: 'vm', serviceAccount: 'db', ttlSeconds: 60 }))),
    ),
    'auth.unknown_kid',
  );
});

t.test('mTLS, composite and insecure', async (t) => {
  const mtls = new MtlsAuthenticator({ trustDomains: ['cluster.local'] });
  const peer = (san: string) => ({
    metadata: {},
    peerCertificate: { raw: Buffer.from([1]), subjectaltname: san } as unknown as CallContext['peerCertificate'],
  });
  const id = await mtls.authenticate(peer('DNS:x.svc, URI:spiffe://cluster.local/ns/a/sa/b'));
  t.same(id, {
    spiffeId: 'spiffe://cluster.local/ns/a/sa/b',
    trustDomain: 'cluster.local',
    namespace: 'a',
    serviceAccount: 'b',
    method: 'mtls',
  });
  t.equal(await reason(mtls.authenticate(peer('URI:spiffe://other.td/ns/a/sa/b'))), 'auth.wrong_trust_domain');
  t.equal(
    await reason(mtls.authenticate(peer('URI:spiffe://cluster.local/ns/a/sa/b, URI:spiffe://cluster.local/ns/c/sa/d'))),
    'auth.bad_peer_certificate',
  );
  t.equal(await reason(mtls.authenticate(peer('DNS:only.dns'))), 'auth.bad_peer_certificate');

  const tokenAuth = { authenticate: async (): Promise<CallerIdentity> => ({ ...id, method: 'jwt' }) };
  const composite = new CompositeAuthenticator({ mtls, token: tokenAuth });
  t.equal(
    (await composite.authenticate(peer('URI:spiffe://cluster.local/ns/a/sa/b'))).method,
    'mtls',
    'peer cert → mTLS',
  );
  t.equal((await composite.authenticate(bearer('x'))).method, 'jwt', 'bearer → token');
  t.equal(await reason(composite.authenticate({ metadata: {} })), 'auth.no_credentials', 'nothing → refused');
  const dev = new CompositeAuthenticator({
    token: tokenAuth,
    insecure: new InsecureAuthenticator({ trustDomain: 'cluster.local', nodeName: 'n1' }),
  });
  const anon = await dev.authenticate({ metadata: {} });
  t.same(anon, {
    spiffeId: 'spiffe://cluster.local/ns/istio-system/sa/ztunnel',
    trustDomain: 'cluster.local',
    namespace: 'istio-system',
    serviceAccount: 'ztunnel',
    method: 'insecure',
    nodeName: 'n1',
  });
});

t.test('impersonation matrix', async (t) => {
  const placement: WorkloadPlacement = {
    identitiesOnNode: (n) =>
      new Set(
        n === 'node-a' ? ['spiffe://cluster.local/ns/default/sa/web'] : ['spiffe://cluster.local/ns/default/sa/db'],
      ),
  };
  const ztunnel: CallerIdentity = {
    spiffeId: 'spiffe://cluster.local/ns/istio-system/sa/ztunnel',
    trustDomain: 'cluster.local',
    namespace: 'istio-system',
    serviceAccount: 'ztunnel',
    method: 'jwt',
    nodeName: 'node-a',
  };
  const web: CallerIdentity = {
    spiffeId: 'spiffe://cluster.local/ns/default/sa/web',
    trustDomain: 'cluster.local',
    namespace: 'default',
    serviceAccount: 'web',
    method: 'jwt',
    nodeName: 'node-a',
  };
  t.equal(
    authorizeImpersonation(ztunnel, 'spiffe://cluster.local/ns/default/sa/web', placement),
    'spiffe://cluster.local/ns/default/sa/web',
    'own node ok',
  );
  t.equal(
    await reasonSync(() => authorizeImpersonation(ztunnel, 'spiffe://cluster.local/ns/default/sa/db', placement)),
    'auth.impersonation_not_on_node',
    'other node refused',
  );
  t.equal(
    await reasonSync(() => authorizeImpersonation(web, 'spiffe://cluster.local/ns/default/sa/db', placement)),
    'auth.impersonation_untrusted_caller',
    'untrusted caller refused',
  );
  t.equal(
    authorizeImpersonation(web, web.spiffeId, placement),
    web.spiffeId,
    'asking for yourself is not impersonation',
  );
  t.equal(
    await reasonSync(() =>
      authorizeImpersonation(
        { ...ztunnel, nodeName: undefined },
        'spiffe://cluster.local/ns/default/sa/web',
        placement,
      ),
    ),
    'auth.impersonation_no_node',
    'no node claim refused',
  );
  t.equal(
    await reasonSync(() => authorizeImpersonation(ztunnel, 'spiffe://other/ns/default/sa/web', placement)),
    'auth.impersonation_foreign_trust_domain',
  );
  t.equal(
    await reasonSync(() => authorizeImpersonation(ztunnel, 'garbage', placement)),
    'auth.impersonation_bad_identity',
  );
  t.equal(
    authorizeImpersonation(
      web,
      'spiffe://cluster.local/ns/default/sa/web2',
      { identitiesOnNode: (n) => new Set(n === 'node-a' ? ['spiffe://cluster.local/ns/default/sa/web2'] : []) },
      ['default/web'],
    ),
    'spiffe://cluster.local/ns/default/sa/web2',
    'trusted node accounts are configurable',
  );
  t.equal(
    await reasonSync(() =>
      authorizeImpersonation(ztunnel, 'spiffe://cluster.local/ns/default/sa/web', placement, ['default/web']),
    ),
    'auth.impersonation_untrusted_caller',
    'ztunnel not trusted when the list omits it',
  );
});

t.test('xDS node namespace must match the caller', async (t) => {
  const caller: CallerIdentity = {
    spiffeId: 'spiffe://td/ns/istio-system/sa/ztunnel',
    trustDomain: 'td',
    namespace: 'istio-system',
    serviceAccount: 'ztunnel',
    method: 'jwt',
  };
  t.doesNotThrow(() => authorizeNodeNamespace(caller, 'istio-system'));
  t.doesNotThrow(() => authorizeNodeNamespace(caller, undefined), 'absent NAMESPACE left to policy');
  t.equal(await reasonSync(() => authorizeNodeNamespace(caller, 'default')), 'auth.node_namespace_mismatch');
});

t.test('JWKS from a file and from an HTTPS issuer with a private CA', async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'auth-jwks-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const file = path.join(tmp, 'jwks.json');
  fs.writeFileSync(
    file,
    JSON.stringify({ keys: [jwk(ec.publicKey, 'e1'), { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' }] }),
  );
  const fromFile = new RefreshingKeySet({ loader: fileJwksLoader(file), source: file, clock, logger });
  t.ok(await fromFile.getKey('e1', 'ES256'), 'EC key loaded from file');
  t.equal(await fromFile.getKey('hmac', 'RS256'), undefined, 'symmetric keys are skipped, never used');

  execFileSync(
    '/usr/bin/openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'k.pem',
      '-out',
      'c.pem',
      '-subj',
      '/CN=issuer',
      '-days',
      '1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { cwd: tmp, stdio: 'ignore' },
  );
  const cert = fs.readFileSync(path.join(tmp, 'c.pem'));
  let sawAuth = '';
  const server = https.createServer({ key: fs.readFileSync(path.join(tmp, 'k.pem')), cert }, (req, res) => {
    sawAuth = req.headers.authorization ?? '';
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk(rsa.publicKey, 'r1')] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/openid/v1/jwks`;
  const keys = new RefreshingKeySet({
    loader: urlJwksLoader({
      jwksUri: url,
      fetcher: httpsFetcher({ ca: cert }),
      headers: { authorization: 'Bearer reader' },
    }),
    source: url,
    clock,
    logger,
  });
  t.ok(await keys.getKey('r1', 'RS256'), 'fetched over HTTPS trusting only the given CA');
  t.equal(sawAuth, 'Bearer reader', 'configured headers sent');
  const untrusted = new RefreshingKeySet({
    loader: urlJwksLoader({ jwksUri: url, fetcher: httpsFetcher({}) }),
    source: url,
    clock,
    logger,
  });
  t.equal(await reason(untrusted.getKey('r1', 'RS256')), 'auth.keys_unavailable', 'unknown CA → no keys');
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
