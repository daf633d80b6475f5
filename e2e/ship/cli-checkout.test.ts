import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TYPE_ADDRESS } from '../../pkg/wire';
import { testWire } from '../harness/xds-fixture';
import { ZtunnelClient } from '../harness/ztunnel-client';
import { duplicateKeys } from '../../pkg/log/testing/json-keys';
import { shebangNodeFlags } from '../../cmd/ambientd/node-flags';
import { MAIN_JS, REPO_ROOT, nodeOptionsOf, runAmbientd, spawnAmbientd, tempDir } from './proc';

/** The CLI as the README calls it from a checkout. */
const BIN = [path.join(REPO_ROOT, 'bin/ambientd')];
const MESH = path.join(REPO_ROOT, 'examples/default/mesh');
const EPHEMERAL = [
  '--xds-listen=127.0.0.1:0',
  '--admin-metrics-listen=127.0.0.1:0',
  '--admin-debug-listen=127.0.0.1:0',
  '--ca-root-key-type=ec',
];

t.test('README and docs call the CLI one way from a checkout: bin/ambientd', async (t) => {
  const docFiles = fs.readdirSync(path.join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md'));
  const docs = ['README.md', ...docFiles.map((f) => `docs/${f}`)];
  t.ok(docs.includes('docs/ship.md') && docs.includes('docs/admin.md'), 'the walkthrough docs are among them');
  for (const doc of docs) {
    const text = fs.readFileSync(path.join(REPO_ROOT, doc), 'utf8');
    let inBlock = false;
    const lines = text.split('\n').filter((l) => (l.startsWith('```') ? ((inBlock = !inBlock), false) : inBlock));
    t.same(
      lines.filter((l) => /node dist\/cmd\/ambientd|npx ambientd|^ambientd /.test(l.trim())),
      [],
      `${doc}: no other spelling`,
    );
  }
  const v = await runAmbientd(['version'], { command: BIN });
  t.equal(v.exit.code, 0);
  t.match(v.stdout, /^ambientd \d+\.\d+\.\d+ /, 'bin/ambientd runs the build');
});

t.test(
  'serve and token create agree on the state dir by default; another key is refused with a hint in both places',
  async (t) => {
    const cwd = tempDir(t); // a checkout's root, as far as the two commands are concerned: both default to ./.state
    const p = spawnAmbientd(['serve', '--cluster-id=cluster-default', `--registry-dir=${MESH}`, ...EPHEMERAL], {
      command: BIN,
      cwd,
    });
    t.teardown(() => p.kill());
    const up = await p.waitMsg('ambientd serving');
    t.same(
      nodeOptionsOf(p.child.pid!),
      shebangNodeFlags(MAIN_JS),
      "bin/ambientd runs node with the CLI's shebang options",
    );
    const debug = `--admin-debug-listen=${(await p.waitMsg('admin servers listening')).debug as string}`;
    const root = fs.readFileSync(path.join(cwd, '.state/ca/root-cert.pem'), 'utf8');
    const connect = (token: string): ZtunnelClient => {
      const z = new ZtunnelClient({
        wire: testWire(),
        address: `127.0.0.1:${up.grpcPort as number}`,
        rootCaPem: root,
        serverName: 'istiod.istio-system.svc',
        token,
        clusterId: 'cluster-default',
        podName: 'frontend-6c9f7d5b8-abcde',
        podNamespace: 'bookstore',
      });
      t.teardown(() => z.close());
      z.connect();
      return z;
    };

    // No state flag on either side (the README's command, with the debug port this daemon happens to use).
    const same = await runAmbientd(
      ['token', 'create', '--namespace', 'bookstore', '--service-account', 'frontend', debug],
      { command: BIN, cwd },
    );
    t.equal(same.exit.code, 0);
    t.equal(same.stderr, '', 'no warning: the running daemon holds this key');
    const z = connect(same.stdout.trim());
    await z.until(() => z.held(TYPE_ADDRESS).size > 0, 'the default token is accepted');
    t.pass('a token minted with the defaults is accepted by a daemon started with the defaults');

    // Another state dir: another key. The CLI says so at once, naming both keys and the daemon's state dir.
    const elsewhere = path.join(cwd, 'elsewhere');
    const other = await runAmbientd(
      [
        'token',
        'create',
        '--namespace',
        'bookstore',
        '--service-account',
        'frontend',
        `--state-dir=${elsewhere}`,
        debug,
      ],
      { command: BIN, cwd },
    );
    t.equal(other.exit.code, 0, 'the token is still printed');
    const kid = (tok: string): string =>
      JSON.parse(Buffer.from(tok.split('.')[0]!, 'base64url').toString()).kid as string;
    const ours = kid(same.stdout.trim());
    const theirs = kid(other.stdout.trim());
    t.not(ours, theirs);
    t.match(other.stderr, `warning: the daemon at http://127.0.0.1:`, 'a warning on stderr');
    t.match(
      other.stderr,
      `verifies bootstrap tokens with key ${ours} (state dir .state)`,
      "names the daemon's key and state dir",
    );
    t.match(other.stderr, `signed by key ${theirs} from ${elsewhere}`, "names this token's key and state dir");

    // The daemon refuses it: opaque to the caller, the hint in its log.
    const from = p.logs.length;
    const bad = connect(other.stdout.trim());
    const st = await bad.until(() => bad.status, 'refusal');
    t.equal(st?.code, grpc.status.UNAUTHENTICATED);
    t.equal(st?.details, 'authentication failed', 'the caller learns nothing more');
    const line = await p.waitLog((l) => l.msg === 'xDS caller refused', 'refusal log', 10_000, from);
    t.match(String(line.reason), `unknown_kid: no ES256 key ${theirs} `, "the log names the token's key");
    t.match(
      String(line.reason),
      `signed by key ${ours} in ${path.join(fs.realpathSync(cwd), '.state/bootstrap/issuer-key.pem')}`,
      'and the key and state dir it expected',
    );

    // Every record so far (start-up, streams, refusals) and the shutdown ones: no key twice in one object.
    p.signal('SIGTERM');
    t.equal((await p.waitExit()).code, 0);
    t.ok(p.jsonLines.length > 10, `${p.jsonLines.length} log lines`);
    t.same(
      p.jsonLines.flatMap((l) => duplicateKeys(l).map((k) => `${k} in ${l}`)),
      [],
      'no log line repeats a key',
    );
  },
);
