// Where verification keys come from: OIDC discovery, a JWKS file, an HTTPS issuer, the bootstrap issuer.
import t from 'tap';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  BootstrapIssuer,
  fileJwksLoader,
  httpsFetcher,
  RefreshingKeySet,
  signJwt,
  TokenAuthenticator,
  urlJwksLoader,
} from './index';
import { bearer, claims, clock, ec, jwk, logger, reason, rsa } from './testing/auth-fixtures';

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
