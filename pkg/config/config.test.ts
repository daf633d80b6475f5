import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, loadEastwestConfig, ConfigError, parseDuration, redactConfig } from './index';

t.test('defaults < file < env < flags', async (t) => {
  const base = loadConfig({});
  t.equal(base.clusterId, 'Kubernetes');
  t.equal(base.xds.listen, '0.0.0.0:15012', 'istio port conventions');
  t.equal(base.admin.metricsListen, '0.0.0.0:15014');
  t.equal(base.admin.debugListen, '127.0.0.1:8080');
  const file = 'clusterId: from-file\ntrustDomain: file.td\nxds:\n  debounceAfter: 20ms\n';
  const c1 = loadConfig({ fileContent: file });
  t.equal(c1.clusterId, 'from-file');
  t.equal(c1.xds.debounceAfter, 20);
  const c2 = loadConfig({ fileContent: file, env: { CLUSTER_ID: 'from-env', PILOT_DEBOUNCE_AFTER: '30ms' } });
  t.equal(c2.clusterId, 'from-env', 'istiod env name honoured');
  t.equal(c2.trustDomain, 'file.td');
  t.equal(c2.xds.debounceAfter, 30);
  const c3 = loadConfig({ fileContent: file, env: { CLUSTER_ID: 'from-env' }, flags: { 'cluster-id': 'from-flag' } });
  t.equal(c3.clusterId, 'from-flag');
  t.ok(Object.isFrozen(c3) && Object.isFrozen(c3.xds), 'frozen');
});

t.test('every problem is listed, one per line', async (t) => {
  try {
    loadConfig({
      fileContent: 'bogus: 1\nxds:\n  maxReceiveBytes: nope\n',
      env: { PILOT_DEBOUNCE_MAX: 'soon', AMBIENTD_INSECURE: 'true' },
      flags: { 'log-level': 'loud', 'no-such-flag': 'x' },
    });
    t.fail('should throw');
  } catch (e) {
    t.ok(e instanceof ConfigError);
    const p = (e as ConfigError).problems;
    t.ok(
      p.some((x) => /^bogus \(file\): unknown setting/.test(x)),
      'unknown file key',
    );
    t.ok(p.some((x) => /xds.maxReceiveBytes \(file\): expected an integer/.test(x)));
    t.ok(p.some((x) => /xds.debounceMax \(env PILOT_DEBOUNCE_MAX\)/.test(x)));
    t.ok(p.some((x) => /log.level \(flag --log-level\): must be one of/.test(x)));
    t.ok(p.some((x) => /--no-such-flag: unknown flag/.test(x)));
    t.ok(
      p.some((x) => /xds.insecure: refused because xds.listen/.test(x)),
      'insecure refused off loopback',
    );
    t.ok(p.length >= 6);
  }
});

t.test('insecure allowed on loopback; debug port off loopback needs a token; secrets redacted', async (t) => {
  const c = loadConfig({ flags: { 'xds-insecure': 'true', 'xds-listen': '127.0.0.1:0' } });
  t.equal(c.xds.insecure, true);
  t.throws(() => loadConfig({ flags: { 'admin-debug-listen': '0.0.0.0:8080' } }), ConfigError);
  const d = loadConfig({ flags: { 'admin-debug-listen': '0.0.0.0:8080', 'admin-debug-token': 'tok-123' } });
  t.equal(d.admin.debugToken, 'tok-123');
  t.notMatch(JSON.stringify(redactConfig(d)), /tok-123/);
});

t.test('durations parse like istiod (Go syntax)', async (t) => {
  t.equal(parseDuration('100ms'), 100);
  t.equal(parseDuration('10s'), 10_000);
  t.equal(parseDuration('1h30m'), 5_400_000);
  t.equal(parseDuration('250'), 250);
  t.equal(parseDuration('ten'), undefined);
  t.equal(parseDuration('10x'), undefined);
});

t.test('peering.trustBundles: file mapping, env and flag forms; every bad entry listed', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-config-tb-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ossl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ca = path.join(dir, 'ca.pem');
  const leaf = path.join(dir, 'leaf.pem');
  ossl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    path.join(dir, 'ca-key.pem'),
    '-subj',
    '/CN=root-b',
    '-days',
    '1',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-out',
    ca,
  );
  ossl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    path.join(dir, 'leaf-key.pem'),
    '-subj',
    '/CN=leaf',
    '-days',
    '1',
    '-addext',
    'basicConstraints=critical,CA:FALSE',
    '-out',
    leaf,
  );
  fs.writeFileSync(path.join(dir, 'junk.pem'), 'not a certificate\n');

  const c = loadConfig({ fileContent: `peering:\n  trustBundles:\n    td-b.example: ${ca}\n` });
  t.same(c.peering.trustBundles, { 'td-b.example': ca }, 'trust-domain keys with dots are data, not setting paths');
  t.ok(Object.isFrozen(c.peering.trustBundles));
  t.same(loadConfig({ env: { AMBIENTD_PEERING_TRUST_BUNDLES: `td-b=${ca}, td-c=${ca}` } }).peering.trustBundles, {
    'td-b': ca,
    'td-c': ca,
  });
  t.same(loadConfig({ flags: { 'peering-trust-bundles': `td-b=${ca}` } }).peering.trustBundles, { 'td-b': ca });
  t.same(loadConfig({}).peering.trustBundles, {}, 'none by default');

  try {
    loadConfig({
      fileContent: [
        'trustDomain: td-a',
        'peering:',
        '  trustBundles:',
        `    td-a: ${ca}`,
        `    td-missing: ${path.join(dir, 'nope.pem')}`,
        `    td-junk: ${path.join(dir, 'junk.pem')}`,
        `    td-leaf: ${leaf}`,
        `    "bad/td": ${ca}`,
        '    td-empty: ""',
      ].join('\n'),
    });
    t.fail('should throw');
  } catch (e) {
    t.ok(e instanceof ConfigError);
    const p = (e as ConfigError).problems;
    t.ok(
      p.some((x) => /trustBundles\["td-a"\]: the local trust domain always uses the mesh trust bundle/.test(x)),
      'local td refused',
    );
    t.ok(
      p.some((x) => /trustBundles\["td-missing"\]: cannot read .*ENOENT/.test(x)),
      'unreadable file',
    );
    t.ok(
      p.some((x) => /trustBundles\["td-junk"\]: .* holds no PEM certificate/.test(x)),
      'not PEM',
    );
    t.ok(
      p.some((x) => /trustBundles\["td-leaf"\]: .* is not a CA certificate/.test(x)),
      'not a CA',
    );
    t.ok(
      p.some((x) => /trustBundles\["bad\/td"\]: "bad\/td" is not a valid trust domain/.test(x)),
      'bad key',
    );
    t.ok(
      p.some((x) => /trustBundles\["td-empty"\]: a PEM file path is required/.test(x)),
      'empty path',
    );
    t.equal(p.length, 6, 'one line per problem');
  }
  t.throws(() => loadConfig({ env: { AMBIENTD_PEERING_TRUST_BUNDLES: 'td-b' } }), /is not key=value/);
});

t.test('transport and stream limits: defaults, env, flags, validation', async (t) => {
  const d = loadConfig({});
  const x = d.xds;
  const deadlines = [
    x.tlsHandshakeTimeout,
    x.prefaceTimeout,
    x.idleTimeout,
    x.firstMessageTimeout,
    x.receiveHoldTimeout,
  ];
  t.same(deadlines, [10_000, 10_000, 60_000, 10_000, 10_000], 'deadlines');
  const caps = [x.maxConcurrentStreams, x.maxConnectionsPerSource, x.receiveBudgetBytes, x.maxNamesPerStream];
  t.same([...caps, d.log.repeatLimit], [100, 128, 64 * 1024 * 1024, 1_000_000, 5], 'caps');
  const c = loadConfig({
    env: { ISTIO_GPRC_MAXSTREAMS: '500', AMBIENTD_XDS_IDLE_TIMEOUT: '5m', AMBIENTD_XDS_MAX_NAMES_PER_STREAM: '2000' },
    flags: { 'xds-max-connections-per-source': '4', 'xds-preface-timeout': '2s', 'log-repeat-limit': '1' },
  });
  const fromEnv = [c.xds.maxConcurrentStreams, c.xds.idleTimeout, c.xds.maxNamesPerStream];
  t.same(fromEnv, [500, 300_000, 2000], 'istiod and AMBIENTD_* env');
  t.same([c.xds.maxConnectionsPerSource, c.xds.prefaceTimeout, c.log.repeatLimit], [4, 2000, 1], 'flags');
  try {
    loadConfig({
      flags: { 'xds-idle-timeout': '0s', 'xds-max-concurrent-streams': '0', 'xds-receive-budget-bytes': '2048' },
    });
    t.fail('should throw');
  } catch (e) {
    const p = (e as ConfigError).problems;
    t.ok(
      p.some((x) => /xds.idleTimeout .*must be at least 1 ms/.test(x)),
      'a zero deadline is refused',
    );
    t.ok(
      p.some((x) => /xds.maxConcurrentStreams .*must be at least 1/.test(x)),
      'a zero cap is refused',
    );
    const budget = /xds.receiveBudgetBytes: must be at least xds.maxReceiveBytes/;
    t.ok(
      p.some((x) => budget.test(x)),
      'budget below one message',
    );
  }
});

t.test('per-stream request work: defaults, file < env < flags, validation', async (t) => {
  const x = loadConfig({}).xds;
  const turn = [x.streamNamesPerTurn, x.streamRequestsPerTurn, x.streamBytesPerTurn];
  t.same(turn, [512, 64, 64 * 1024], "per-turn defaults (the pump's own)");
  t.same([x.streamNamesPerSecond, x.streamBytesPerSecond, x.maxRequestsBeforeAuth], [65_536, 8 * 1024 * 1024, 64]);
  t.equal(x.streamWorkMsPerSecond, 50, 'loop time per stream: 5 %');
  const c = loadConfig({
    fileContent: 'xds:\n  streamNamesPerSecond: 1000\n  streamNamesPerTurn: 100\n  streamBytesPerSecond: 4096\n',
    env: { AMBIENTD_XDS_STREAM_NAMES_PER_SECOND: '2000', AMBIENTD_XDS_MAX_REQUESTS_BEFORE_AUTH: '8' },
    flags: {
      'xds-stream-names-per-second': '3000',
      'xds-stream-requests-per-turn': '4',
      'xds-stream-work-ms-per-second': '20',
    },
  });
  t.equal(c.xds.streamNamesPerSecond, 3000, 'a flag beats env and file');
  t.equal(c.xds.streamNamesPerTurn, 100, 'file');
  t.equal(c.xds.streamBytesPerSecond, 4096, 'file');
  t.equal(c.xds.maxRequestsBeforeAuth, 8, 'env');
  t.equal(c.xds.streamRequestsPerTurn, 4, 'flag');
  t.equal(c.xds.streamWorkMsPerSecond, 20, 'flag');
  try {
    loadConfig({ flags: { 'xds-stream-names-per-turn': '0', 'xds-stream-bytes-per-second': '0' } });
    t.fail('should throw');
  } catch (e) {
    const p = (e as ConfigError).problems;
    t.ok(
      p.some((m) => /xds.streamNamesPerTurn .*must be at least 1/.test(m)),
      'a zero turn budget is refused',
    );
    t.ok(
      p.some((m) => /xds.streamBytesPerSecond .*must be at least 1/.test(m)),
      'a zero rate is refused',
    );
  }
});

t.test('eastwest: its own slice, ztunnel env names, every problem listed', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-ew-cfg-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'root.pem');
  const token = path.join(dir, 'token');
  fs.writeFileSync(root, 'x');
  fs.writeFileSync(token, 'x');
  const c = loadEastwestConfig({
    fileContent: `listen: ["0.0.0.0:15008", "10.0.0.5:31008"]\nxds: { rootCa: ${root} }\nlimits: { idleTimeout: 5m }\n`,
    env: { XDS_ADDRESS: 'https://10.0.0.2:15012', AUTH_TOKEN: token, NETWORK: 'net-b' },
    flags: { 'cluster-id': 'cb' },
  });
  t.same(c.listen, ['0.0.0.0:15008', '10.0.0.5:31008']);
  t.equal(c.xds.address, 'https://10.0.0.2:15012');
  t.equal(c.network, 'net-b');
  t.equal(c.clusterId, 'cb');
  t.equal(c.identity, 'istio-system/istio-eastwest', 'default SA');
  t.equal(c.limits.idleTimeout, 300_000);
  t.equal(c.limits.maxConcurrentStreams, 100);
  t.ok(Object.isFrozen(c.limits));
  try {
    loadEastwestConfig({
      flags: { listen: 'x', 'admin-debug-listen': '0.0.0.0:15000', 'limits-max-concurrent-streams': '10' },
    });
    t.fail('should throw');
  } catch (e) {
    const p = (e as ConfigError).problems;
    for (const re of [
      /listen: "x" is not host:port/,
      /admin.debugListen: .* is not a loopback/,
      /maxConcurrentStreams .*at least 100/,
      /xds.rootCa: required/,
      /xds.authToken: required/,
    ])
      t.ok(
        p.some((x) => re.test(x)),
        String(re),
      );
  }
});

t.test('xds.authenticatedWindowBytes: default 1 MiB, env and flag, bounded to 65535 – 16 MiB', async (t) => {
  t.equal(loadConfig({}).xds.authenticatedWindowBytes, 1024 * 1024, 'default');
  const env = { AMBIENTD_XDS_AUTHENTICATED_WINDOW_BYTES: '4194304' };
  t.equal(loadConfig({ env }).xds.authenticatedWindowBytes, 4 << 20, 'env');
  const flags = { 'xds-authenticated-window-bytes': '65535' };
  t.equal(loadConfig({ flags }).xds.authenticatedWindowBytes, 65_535, 'flag (65535 = never raised)');
  t.throws(() => loadConfig({ env: { AMBIENTD_XDS_AUTHENTICATED_WINDOW_BYTES: '1000' } }), /at least 65535/);
  t.throws(() => loadConfig({ env: { AMBIENTD_XDS_AUTHENTICATED_WINDOW_BYTES: '16777217' } }), /at most 16777216/);
});
