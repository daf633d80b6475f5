import t from 'tap';
import type { Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { waitFor } from '../../pkg/lifecycle';
import { findZtunnel } from '../harness/ztunnel-bin';
import { REPO_ROOT, cleanEnv, processesUsing, tempDir } from './proc';

/**
 * The README's "Point a ztunnel at it", pasted as written, against `make run`, with an unmodified ztunnel.
 * Both run in a network namespace made for this test (loopback only), so the README's fixed ports
 * (15012, 15000, 15021, ...) never meet anything else on the host.
 */
const zt = findZtunnel();
const ns = `ambientd-readme-${process.pid}`;
const canNetns = process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list']).status === 0;
const skip =
  typeof zt === 'string' ? zt : !canNetns ? 'needs root and iproute2 (a network namespace of its own)' : false;
const FRONTEND = 'spiffe://cluster.local/ns/bookstore/sa/frontend';

/** The first sh block after the README heading. */
function readmeSnippet(heading: string): string {
  const text = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const from = text.indexOf(`\n${heading}\n`);
  const m = /```sh\n([\s\S]*?)```/.exec(text.slice(from));
  if (from < 0 || !m) throw new Error(`README has no sh block under ${heading}`);
  return m[1]!;
}

/** An HTTP GET from inside the namespace (this process lives outside it). */
function nsGet(url: string): { status: number; body: string } {
  const code = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(2000) })
    .then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })))
    .catch(() => process.stdout.write('{"status":0,"body":""}'))`;
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', code], { encoding: 'utf8', env: cleanEnv() });
  return JSON.parse(r.stdout || '{"status":0,"body":""}') as { status: number; body: string };
}

function spawnLogged(t: Test, args: string[], cwd: string, env: Record<string, string>, log: string): ChildProcess {
  const out = fs.openSync(log, 'a');
  const child = spawn('ip', ['netns', 'exec', ns, 'env', '-u', 'NODE_OPTIONS', ...args], {
    cwd,
    env,
    stdio: ['ignore', out, out],
    detached: true,
  });
  fs.closeSync(out);
  t.teardown(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  return child;
}

t.test(
  'README ztunnel snippet: an unmodified ztunnel becomes ready and holds a certificate for the pod',
  { skip },
  async (t) => {
    const bin = (zt as { path: string }).path;
    if (spawnSync('ip', ['netns', 'add', ns]).status !== 0) throw new Error(`ip netns add ${ns} failed`);
    t.teardown(() => void spawnSync('ip', ['netns', 'del', ns]));
    spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const home = tempDir(t, 'ambientd-readme-'); // plays the checkout's root for the snippet's $PWD
    const state = path.join(home, '.state');
    const binDir = path.join(home, 'bin');
    fs.mkdirSync(binDir);
    fs.symlinkSync(bin, path.join(binDir, 'ztunnel'));

    // Registered first, so it runs last: nothing started here outlives the test (the daemon included).
    t.teardown(() => {
      for (const pid of processesUsing(state)) process.kill(pid, 'SIGKILL');
    });
    const daemonLog = path.join(home, 'make-run.log');
    const make = spawnLogged(
      t,
      ['make', '--no-print-directory', '-o', 'build', '-o', 'deps', 'run'],
      REPO_ROOT,
      cleanEnv({ RUN_STATE: state }),
      daemonLog,
    );
    await waitFor(
      () => {
        if (make.exitCode !== null) throw new Error(`make run exited: ${fs.readFileSync(daemonLog, 'utf8')}`);
        return fs.readFileSync(daemonLog, 'utf8').includes('"msg":"ambientd serving"');
      },
      { timeoutMs: 60_000, what: 'make run serving' },
    );

    const ztLog = path.join(home, 'ztunnel.log');
    const z = spawnLogged(
      t,
      ['bash', '-c', readmeSnippet('## Point a ztunnel at it')],
      home,
      cleanEnv({ PATH: `${binDir}:${process.env.PATH ?? '/usr/bin:/bin'}` }),
      ztLog,
    );
    const ready = await waitFor(
      () => {
        if (z.exitCode !== null)
          throw new Error(`ztunnel exited ${z.exitCode}: ${fs.readFileSync(ztLog, 'utf8').slice(-2000)}`);
        return nsGet('http://127.0.0.1:15021/healthz/ready').status === 200 || undefined;
      },
      { timeoutMs: 60_000, what: 'ztunnel ready' },
    );
    t.ok(ready, 'ztunnel /healthz/ready answers 200');

    // Dedicated mode asks for its certificate on its first connection (ztunnel src/cert_fetcher.rs): one TLS
    // handshake on the inbound HBONE port, as the README says, is enough (it fails: we present no certificate).
    const hello = (): void =>
      void spawnSync('ip', ['netns', 'exec', ns, 'openssl', 's_client', '-connect', '127.0.0.1:15008', '-alpn', 'h2'], {
        input: '',
        timeout: 5000,
        stdio: ['pipe', 'ignore', 'ignore'],
      });
    const dump = await waitFor(
      () => {
        const r = nsGet('http://127.0.0.1:15000/config_dump');
        if (r.status !== 200) return undefined;
        const d = JSON.parse(r.body) as {
          certificates?: { identity?: string; state?: string; certChain?: unknown[] }[];
          workloads?: unknown[];
        };
        if (d.certificates?.some((c) => c.identity === FRONTEND && c.state === 'Available')) return d;
        hello(); // a handshake that found no workload yet fetched nothing: try again
        return undefined;
      },
      { timeoutMs: 60_000, what: `a certificate for ${FRONTEND} in ztunnel's config_dump` },
    );
    t.ok(dump.workloads && dump.workloads.length > 0, "ztunnel holds the registry's workloads");
    const cert = dump.certificates!.find((c) => c.identity === FRONTEND)!;
    t.ok(cert.certChain && cert.certChain.length > 0, 'with its chain');
    t.notMatch(fs.readFileSync(daemonLog, 'utf8'), /CSR asks for /, 'the daemon issued exactly what the CSR asked for');

    // The daemon has a process group of its own (tools/run-daemon.sh): TERM to make's reaches it once.
    process.kill(-z.pid!, 'SIGTERM');
    process.kill(-make.pid!, 'SIGTERM');
    await waitFor(() => processesUsing(state).length === 0, { timeoutMs: 15_000, what: 'the daemon to stop' });
    t.match(fs.readFileSync(daemonLog, 'utf8'), /"msg":"stopped"/, 'make run stopped cleanly');
  },
);
