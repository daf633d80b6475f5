import t from 'tap';
import type { Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TYPE_ADDRESS } from '../../pkg/wire';
import { waitFor } from '../../pkg/lifecycle';
import { duplicateKeys } from '../../pkg/log/testing/json-keys';
import { testWire } from '../harness/xds-fixture';
import { ZtunnelClient } from '../harness/ztunnel-client';
import { shebangNodeFlags } from '../../cmd/ambientd/node-flags';
import { MAIN_JS, REPO_ROOT, cleanEnv, nodeOptionsOf, processesUsing, tempDir } from './proc';

/**
 * `make run` as a user runs it (the recipe, tools/run-daemon.sh, the CLI), on ephemeral loopback ports
 * (RUN_FLAGS) and a temp state dir (RUN_STATE). `-o build -o deps`: the suite runs on the build it tests;
 * recompiling dist/ under the other test files would race them.
 */
const LOOPBACK =
  '--xds-listen=127.0.0.1:0 --admin-metrics-listen=127.0.0.1:0 --admin-debug-listen=127.0.0.1:0 --ca-root-key-type=ec';

interface MakeRun {
  child: ChildProcess;
  state: string;
  /** stdout lines as written (pty line endings removed). */
  lines: string[];
  logs: Record<string, unknown>[];
  exit?: { code: number | null; signal: NodeJS.Signals | null };
}

/** tap injects NODE_OPTIONS into children it spawns; `env -u` keeps make and the daemon as a user runs them. */
function startMake(t: Test, viaTerminal: boolean): MakeRun {
  const state = path.join(tempDir(t, 'ambientd-make-run-'), 'state');
  const make = ['make', '--no-print-directory', '-o', 'build', '-o', 'deps', 'run'];
  // script(1) gives make a terminal, as in a shell: Ctrl-C is then a byte typed on it (ETX).
  const cmd = viaTerminal ? ['script', '-qefc', make.join(' '), '/dev/null'] : make;
  const child = spawn('env', ['-u', 'NODE_OPTIONS', ...cmd], {
    cwd: REPO_ROOT,
    env: cleanEnv({ RUN_STATE: state, RUN_FLAGS: LOOPBACK }),
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const run: MakeRun = { child, state, lines: [], logs: [] };
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      // A terminal echoes Ctrl-C as "^C" in front of whatever is printed next.
      const line = buf.slice(0, i).replace(/\r$/, '').replace(/^\^C/, '');
      buf = buf.slice(i + 1);
      run.lines.push(line);
      if (line.startsWith('{')) run.logs.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  child.stderr.resume();
  child.on('close', (code, signal) => (run.exit = { code, signal }));
  t.teardown(() => {
    for (const pid of processesUsing(state)) process.kill(pid, 'SIGKILL');
    if (!run.exit) process.kill(-child.pid!, 'SIGKILL');
  });
  return run;
}

const msgs = (r: MakeRun, msg: string): number => r.logs.filter((l) => l.msg === msg).length;

async function serving(r: MakeRun): Promise<Record<string, unknown>> {
  const line = await waitFor(
    () => {
      if (r.exit) throw new Error(`make exited ${JSON.stringify(r.exit)}: ${r.lines.join('\n')}`);
      return r.logs.find((l) => l.msg === 'ambientd serving');
    },
    { timeoutMs: 30_000, what: 'ambientd serving' },
  );
  return line;
}

t.test(
  'make run: node and README-pod tokens, three plain lines, the daemon; SIGTERM to the group stops it once',
  async (t) => {
    const r = startMake(t, false);
    const up = await serving(r);
    const daemons = processesUsing(r.state);
    t.equal(daemons.length, 1, 'one daemon');
    t.same(nodeOptionsOf(daemons[0]!), shebangNodeFlags(MAIN_JS), "the daemon runs with the CLI's shebang options");
    const plain = r.lines.filter((l) => l.startsWith('ambientd:'));
    t.match(plain[0], `node ${r.state}/ztunnel-token (istio-system/ztunnel)`, 'names the node token file');
    t.match(
      plain[0],
      `workload ${r.state}/bookstore-frontend-token (bookstore/frontend`,
      "names the README pod's token file",
    );
    t.match(plain[1], `mesh root certificate: ${r.state}/ca/root-cert.pem`);
    t.match(
      plain[2],
      /^ambientd: starting the daemon \(examples\/default\/ambientd\.yaml.*"ambientd serving".*Ctrl-C stops it$/,
    );
    t.equal(
      r.lines.filter((l) => !l.startsWith('{') && !l.startsWith('ambientd:')).length,
      0,
      'nothing else but JSON logs',
    );
    for (const l of r.lines.filter((x) => x.startsWith('{'))) t.same(duplicateKeys(l), [], 'no log line repeats a key');

    const workloadToken = fs.readFileSync(path.join(r.state, 'bookstore-frontend-token'), 'utf8');
    t.notMatch(workloadToken, /\s/, "no trailing newline: ztunnel sends the file's bytes as the token");
    t.equal(
      JSON.parse(Buffer.from(workloadToken.split('.')[1]!, 'base64url').toString()).sub,
      'system:serviceaccount:bookstore:frontend',
    );
    // The daemon accepts both tokens: make run minted them with its own issuer key.
    for (const [file, podName, podNamespace] of [
      ['ztunnel-token', 'ztunnel-1', 'istio-system'],
      ['bookstore-frontend-token', 'frontend-6c9f7d5b8-abcde', 'bookstore'],
    ]) {
      const z = new ZtunnelClient({
        wire: testWire(),
        address: `127.0.0.1:${up.grpcPort as number}`,
        rootCaPem: fs.readFileSync(path.join(r.state, 'ca/root-cert.pem'), 'utf8'),
        serverName: 'istiod.istio-system.svc',
        token: fs.readFileSync(path.join(r.state, file!), 'utf8'),
        clusterId: 'cluster-default',
        podName,
        podNamespace,
      });
      t.teardown(() => z.close());
      z.connect();
      await z.until(() => z.held(TYPE_ADDRESS).size > 0, `${file} accepted`);
      z.close();
    }

    process.kill(-r.child.pid!, 'SIGTERM');
    await waitFor(() => r.exit, { timeoutMs: 20_000, what: 'make to exit' });
    t.equal(msgs(r, 'draining'), 1, 'the daemon got one signal');
    t.equal(msgs(r, 'second signal: exiting now'), 0, 'no second signal');
    t.equal(msgs(r, 'stopped'), 1, 'one "stopped" line: a clean drain');
    // GNU make re-raises a fatal signal it received itself once its children are done (tools/run-daemon.sh).
    t.same(r.exit, { code: null, signal: 'SIGTERM' }, 'make reports the signal it was sent');
    t.same(processesUsing(r.state), [], 'nothing left running');
  },
);

const noScript = spawnSync('script', ['--version']).status !== 0 && 'needs script(1) (util-linux) for a terminal';
t.test(
  'make run on a terminal: one Ctrl-C stops the daemon cleanly and make exits 0',
  { skip: noScript },
  async (t) => {
    const r = startMake(t, true);
    await serving(r);
    r.child.stdin!.write('\x03');
    await waitFor(() => r.exit, { timeoutMs: 20_000, what: 'make to exit' });
    t.equal(msgs(r, 'draining'), 1, 'the daemon got one signal');
    t.equal(r.logs.find((l) => l.msg === 'draining')?.signal, 'SIGINT', 'Ctrl-C reached the daemon itself');
    t.equal(msgs(r, 'second signal: exiting now'), 0, 'no second signal');
    t.equal(msgs(r, 'stopped'), 1, 'one "stopped" line');
    t.same(r.exit, { code: 0, signal: null }, 'make (through script -e) exits 0');
    t.same(processesUsing(r.state), [], 'nothing left running');
  },
);
