import t from 'tap';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, cleanEnv, tempDir } from './proc';

const run = promisify(execFile);

/** Runs a repository script as `make test` does, without tap's NODE_OPTIONS; never rejects. */
async function script(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('env', ['-u', 'NODE_OPTIONS', 'bash', ...args], {
      cwd: REPO_ROOT,
      env: cleanEnv(env),
      maxBuffer: 8 << 20,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

t.test('run-tests.sh: each skip reason once, with its count, on the lines just above the closing line', async (t) => {
  // Inside the checkout's .tap/ (ignored by git): tap saves each file's results under .tap/test-results/ at the
  // file's path relative to the working directory, so a file under /tmp would leave <checkout>/tmp/... behind.
  fs.mkdirSync(path.join(REPO_ROOT, '.tap'), { recursive: true });
  const dir = fs.mkdtempSync(path.join(REPO_ROOT, '.tap', 'run-tests-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, body: string): string => {
    fs.writeFileSync(path.join(dir, name), `const t = require('tap');\n${body}\n`);
    return path.join(dir, name);
  };
  const files = [
    file('a.test.js', "t.test('passes', async (t) => t.pass('yes'));"),
    file(
      'b.test.js',
      [
        "t.test('needs a widget', { skip: 'widget not built: set WIDGET_SRC' }, async () => {});",
        "t.test('needs it too', { skip: 'widget not built: set WIDGET_SRC' }, async () => {});",
        "t.test('needs a gadget', { skip: 'no gadget' }, async () => {});",
      ].join('\n'),
    ),
  ];
  const r = await script(['tools/run-tests.sh', ...files], { NODE_PATH: path.join(REPO_ROOT, 'node_modules') });
  // Both streams go with a failure: the one time this failed (session 17) the inner tap printed nothing on stdout.
  t.equal(r.code, 0, 'skips are not failures', { stdout: r.stdout, stderr: r.stderr });
  const tail = r.stdout.trimEnd().split('\n').slice(-3);
  t.same(tail, [
    'skipped (2): widget not built: set WIDGET_SRC',
    'skipped (1): no gadget',
    '1 passed, 0 failed, 3 skipped',
  ]);
});

t.test('ensure-test-tools.sh: a tool that cannot be had is reported, never fatal', async (t) => {
  const dir = tempDir(t);
  // Empty caches, no Go and no ztunnel source: both scripts fail fast, before any download.
  const r = await script(['tools/ensure-test-tools.sh'], {
    AMBIENTD_KUBE_CACHE: path.join(dir, 'kube'),
    AMBIENTD_ZTUNNEL_CACHE: path.join(dir, 'ztunnel'),
    GO: path.join(dir, 'no-go'),
    AMBIENTD_ENSURE_LOGS: dir,
  });
  t.equal(r.code, 0, 'exit 0: make test goes on to run the suite', { stderr: r.stderr });
  const lines = r.stdout.trimEnd().split('\n');
  t.match(
    lines[0],
    /^make test: kube-apiserver\+etcd is not cached: tools\/kube\/ensure\.sh builds it now .*10-20 min/,
    'says what it is doing first',
  );
  t.match(
    lines[1],
    /^make test: kube-apiserver\+etcd unavailable \(.*no-go.*\); the tests that need it will skip$/,
    'the reason',
  );
  t.match(lines[2], /^make test: ztunnel is not cached/);
  t.match(
    lines[3],
    /^make test: ztunnel unavailable \(.*set ZTUNNEL_SRC.*\); the tests that need it will skip$/,
    'the reason',
  );
});
