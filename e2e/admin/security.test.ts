import t from 'tap';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, loadConfig } from '../../pkg/config';
import { createRootLogger } from '../../pkg/log';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../pkg/wire';
import { DEBUG_ROUTES, adminWithLogger, bearerMatches, createAdmin } from '../../pkg/admin';
import { startDaemon } from '../harness/daemon-fixture';
import { Capture, MESH, adminOf, get } from './helpers';

/** Every PEM private key under dir (state dir: CA root key, bootstrap issuer key). */
function keyFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (fs.readFileSync(p, 'utf8').includes('PRIVATE KEY-----')) out.push(fs.readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

/** Fragments that would betray a PEM key: the whole base64 body and each of its 64-char lines. */
function pemNeedles(pem: string): string[] {
  const lines = pem.split('\n').filter((l) => l && !l.startsWith('-----'));
  return [lines.join(''), ...lines.filter((l) => l.length >= 40)];
}

t.test('no endpoint and no log line carries a private key or a token', async (t) => {
  const cap = new Capture();
  const logger = createRootLogger({ level: 'trace', destination: cap.stream });
  const debugToken = `dbg-${crypto.randomBytes(16).toString('hex')}`;
  const wrongToken = `wrong-${crypto.randomBytes(16).toString('hex')}`;
  // A private key planted in the registry too, inside an object kind ambientd does not know.
  const planted = crypto
    .generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
  const keyBlock = planted
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
  const secretYaml =
    `apiVersion: v1\nkind: Secret\nmetadata: { name: tls, namespace: default }\n` +
    `stringData:\n  tls.key: |\n${keyBlock}\n`;
  const f = await startDaemon({
    files: { 'mesh.yaml': MESH, 'secret.yaml': secretYaml },
    logger,
    flags: { 'admin-debug-token': debugToken },
    deps: { admin: adminWithLogger(logger) },
  });
  t.teardown(() => f.close());
  const bootstrapToken = f.token();
  const otherToken = f.daemon.auth.bootstrap.createBootstrapToken({
    namespace: 'default',
    serviceAccount: 'web',
    ttlSeconds: 600,
  });
  const z = f.ztunnel({ token: bootstrapToken });
  z.connect();
  await z.until(() => z.held(TYPE_ADDRESS).size > 0 && z.acked.get(TYPE_AUTHORIZATION), 'ztunnel synced');

  const admin = adminOf(f.daemon);
  const auth = { authorization: `Bearer ${debugToken}` };
  const bodies: Record<string, string> = {};
  for (const p of [
    '/ready',
    '/healthz',
    '/.well-known/jwks.json',
    '/debug',
    ...DEBUG_ROUTES,
    `/debug/config_dump?node=${encodeURIComponent(z.nodeId)}`,
  ]) {
    const r = await get(admin.debugPort, p, auth);
    t.equal(r.status, 200, `${p} answers`);
    bodies[p] = r.body;
  }
  bodies['/metrics'] = (await get(admin.metricsPort, '/metrics')).body;
  t.equal((await get(admin.debugPort, '/debug/configz', { authorization: `Bearer ${wrongToken}` })).status, 401);

  const configz = JSON.parse(bodies['/debug/configz']!) as { config: { admin: { debugToken: string } } };
  t.equal(configz.config.admin.debugToken, '[redacted]', 'configz shows the token is set, not its value');

  const keys = [f.daemon.serving.current().keyPem, ...keyFiles(f.stateDir), planted];
  t.ok(keys.length >= 3, `planted/known private keys: ${keys.length}`);
  const needles: [string, string][] = [
    ['debug token', debugToken],
    ['wrong presented token', wrongToken],
    ['bootstrap token', bootstrapToken],
    ['other bootstrap token', otherToken],
    ...keys.flatMap((k, i) => pemNeedles(k).map((n): [string, string] => [`private key #${i}`, n])),
  ];
  // Flush pino before reading the log.
  logger.flush?.();
  const log = cap.text;
  t.match(log, /"component":"admin"/, 'admin logs went through the injected logger');
  t.match(log, /debug request refused/, 'the refused request was logged');
  t.ok(log.split('\n').length > 20, 'the whole daemon logged into the capture');
  for (const [where, body] of [...Object.entries(bodies), ['log', log] as [string, string]]) {
    t.notMatch(body, /PRIVATE KEY/, `${where}: no PEM private key marker`);
    const leaked = needles.filter(([, n]) => body.includes(n)).map(([what]) => what);
    t.same([...new Set(leaked)], [], `${where}: no secret`);
  }
});

t.test('the debug port enforces the bearer token; probes, JWKS and metrics stay open', async (t) => {
  const f = await startDaemon({
    files: { 'mesh.yaml': MESH },
    flags: { 'admin-debug-token': 's3cret-token' },
    deps: { admin: createAdmin },
  });
  t.teardown(() => f.close());
  const { debugPort, metricsPort } = adminOf(f.daemon);
  for (const p of DEBUG_ROUTES) {
    const none = await get(debugPort, p);
    t.equal(none.status, 401, `${p} without a token`);
    t.equal(none.headers['www-authenticate'], 'Bearer realm="ambientd-debug"');
    t.same(none.json(), { error: 'unauthorized' }, 'opaque');
    t.equal((await get(debugPort, p, { authorization: 'Bearer s3cret-tokeN' })).status, 401, `${p} with a wrong token`);
    t.equal((await get(debugPort, p, { authorization: 's3cret-token' })).status, 401, `${p} without the Bearer scheme`);
  }
  t.equal((await get(debugPort, '/debug/syncz', { authorization: 'Bearer s3cret-token' })).status, 200);
  t.equal(
    (await get(debugPort, '/debug/syncz', { authorization: 'bearer s3cret-token' })).status,
    200,
    'scheme is case-insensitive (RFC 7235)',
  );
  t.equal((await get(debugPort, '/ready')).status, 200);
  t.equal((await get(debugPort, '/healthz')).status, 200);
  t.equal((await get(debugPort, '/.well-known/jwks.json')).status, 200);
  t.equal((await get(metricsPort, '/metrics')).status, 200);
});

t.test('without a token the loopback debug port is open', async (t) => {
  const f = await startDaemon({ files: { 'mesh.yaml': MESH }, deps: { admin: createAdmin } });
  t.teardown(() => f.close());
  t.equal((await get(adminOf(f.daemon).debugPort, '/debug/syncz')).status, 200);
});

t.test('binding the debug port off loopback without a token is a configuration error', async (t) => {
  const base = { 'registry-dir': '/nonexistent', 'state-dir': '/nonexistent' };
  for (const listen of ['0.0.0.0:8080', '[::]:8080', '192.0.2.1:8080']) {
    const err = (() => {
      try {
        loadConfig({ flags: { ...base, 'admin-debug-listen': listen } });
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    t.type(err, ConfigError, listen);
    t.match((err as ConfigError).problems.join('\n'), /admin\.debugListen: .*requires admin\.debugToken/);
  }
  t.doesNotThrow(
    () => loadConfig({ flags: { ...base, 'admin-debug-listen': '0.0.0.0:8080', 'admin-debug-token': 'x' } }),
    'allowed with a token',
  );
  t.doesNotThrow(
    () => loadConfig({ flags: { ...base, 'admin-debug-listen': '127.0.0.2:8080' } }),
    'any 127/8 address is loopback',
  );
});

t.test('bearerMatches', async (t) => {
  t.ok(bearerMatches('Bearer abc', 'abc'));
  t.ok(bearerMatches('Bearer  abc ', 'abc'));
  t.notOk(bearerMatches('Bearer abcd', 'abc'));
  t.notOk(bearerMatches('Bearer ab', 'abc'));
  t.notOk(bearerMatches('Basic abc', 'abc'));
  t.notOk(bearerMatches(undefined, 'abc'));
  t.notOk(bearerMatches('Bearer ', ''), 'an empty header never matches');
});
