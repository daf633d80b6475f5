// Where a certificate's CPU goes: runs the CA bench server under `node
// --cpu-prof` with the scenario's load generator, then attributes the main
// thread's samples per issued certificate (native crypto, our modules, grpc-js,
// node http2/TLS, protobuf, GC) and reads every thread's CPU from /proc.
//   flock /tmp/ambientd-bench.lock node dist/bench/ca/profile.js [sustainedSeconds] [rsa-2048|ec-p256] \
//     [server.js|floor-server.js]   (BENCH_CA_WARMUP: requests before the measured phases;
//     BENCH_CA_PROFILE_DIR: keep the .cpuprofile there instead of a temporary directory)
// Sample times are wall-clock: on a loaded machine every share is inflated
// alike, so read the shares, and the /proc figure for absolute CPU. `--cpu-prof` profiles the CA's signing
// threads too (each writes its own profile, not read here), which inflates the other threads' /proc figure.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function threadTicks(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      out.set(`${tid} ${comm}`, Number(f[11]) + Number(f[12]));
    } catch {
      // thread ended
    }
  }
  return out;
}

/** First recognisable frame from the leaf upwards decides the category. */
function category(f: ProfileNode['callFrame']): string | undefined {
  const fn = f.functionName;
  const url = f.url;
  if (fn === '(idle)') return 'idle (event loop waiting)';
  if (fn === '(garbage collector)') return 'gc (main thread)';
  if (fn === '(program)') return 'native, unattributed';
  if (fn === 'signOneShot') return 'crypto: CA signature';
  if (fn === 'verifyOneShot') return 'crypto: CSR signature verify';
  // The CSR key import: JWK (before session 17), then WebCrypto's raw import (pkg/x509 csr.ts).
  if (['getKeyObjectHandleFromJwk', 'createPublicKey', 'importKey', 'ecImportKey'].includes(fn)) {
    return 'crypto: CSR key import';
  }
  if (fn === 'randomFillSync' || fn === 'randomBytes') return 'crypto: random';
  if (/crypto\/hash/.test(url) || fn === 'createHash' || fn === 'hash') return 'crypto: hash';
  const ours = /\/(pkg\/[^/]+)\//.exec(url);
  if (ours) return `ours: ${ours[1]}`;
  if (/prom-client/.test(url)) return 'prom-client';
  if (/proto-loader|protobufjs/.test(url) || /\$(en|de)code/.test(fn)) return 'protobuf';
  if (/grpc-js/.test(url)) return 'grpc-js';
  if (/http2/.test(url)) return 'node http2';
  if (/_tls|tls_wrap|stream_base|node:net/.test(url)) return 'node TLS/net';
  return undefined;
}

function attribute(p: Profile): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, string>();
  const catOf = (id: number): string => {
    const hit = memo.get(id);
    if (hit) return hit;
    let k: string | undefined;
    let startUp = false;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      k ??= category(f);
      // Module loading and the server's main() (CA key generation, TLS set-up) are start-up, not per-certificate work.
      if (/run_main_module/.test(f.url) || (f.functionName === 'main' && /bench\/ca\/server\.js$/.test(f.url)))
        startUp = true;
    }
    const c = startUp ? 'start-up' : (k ?? `other: ${byId.get(id)!.callFrame.functionName || '(anonymous)'}`);
    memo.set(id, c);
    return c;
  };
  const out = new Map<string, number>();
  p.samples.forEach((id, i) => out.set(catOf(id), (out.get(catOf(id)) ?? 0) + (p.timeDeltas[i] ?? 0)));
  return out;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 6);
  const caKey = process.argv[3] === 'ec-p256' ? 'ec-p256' : 'rsa-2048';
  const keep = process.env.BENCH_CA_PROFILE_DIR;
  const profDir = fs.mkdtempSync(path.join(keep ?? os.tmpdir(), 'ca-prof-'));
  const script = path.join(__dirname, process.argv[4] ?? 'server.js');
  const server = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, script, caKey], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const ready = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: server.stdout }).once('line', resolve);
    server.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  const cfg = {
    ...(JSON.parse(ready) as Record<string, unknown>),
    channels: 8,
    sustainedConcurrency: 64,
    sustainedSeconds: seconds,
    burstSize: 500,
    bursts: 1,
    csrs: 1000,
    warmup: Number(process.env.BENCH_CA_WARMUP ?? 32),
  };
  // CPU is counted from the load's first phase mark, so start-up and key generation stay out.
  let t0: Map<string, number> | undefined;
  let t1: Map<string, number> | undefined;
  let issued = 0;
  const client = spawn(process.execPath, [path.join(__dirname, 'client.js'), JSON.stringify(cfg)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  readline.createInterface({ input: client.stdout }).on('line', (l) => {
    const o = JSON.parse(l) as { event: string; phase?: string; done?: number };
    if (o.event === 'phase-start' && o.phase === 'sustained') t0 = threadTicks(server.pid!);
    if (o.event === 'phase-end') issued += o.done ?? 0;
    if (o.event === 'phase-end' && o.phase === 'burst') t1 = threadTicks(server.pid!);
  });
  await new Promise((resolve) => client.once('exit', resolve));
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGINT');
  await exited;
  const file = fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file || !t0 || !t1) throw new Error('no profile or no phase marks');
  const prof = JSON.parse(fs.readFileSync(path.join(profDir, file), 'utf8')) as Profile;
  if (keep) console.log(`profile kept in ${profDir}`);
  else fs.rmSync(profDir, { recursive: true, force: true });

  const hz = 100; // USER_HZ on Linux
  let total = 0;
  const mainTid = String(server.pid);
  let mainTicks = 0;
  const byComm = new Map<string, number>();
  for (const [tid, end] of t1) {
    const d = end - (t0.get(tid) ?? 0);
    total += d;
    if (tid.split(' ')[0] === mainTid) mainTicks = d;
    const comm = tid.slice(tid.indexOf(' ') + 1);
    byComm.set(comm, (byComm.get(comm) ?? 0) + d);
  }
  const perThread = [...byComm]
    .filter(([, d]) => d > 0)
    .map(([c, d]) => `${c} ${(((d / hz) * 1e6) / issued).toFixed(0)}`);
  console.log(`per thread name, us/cert: ${perThread.join(', ')}`);
  console.log(
    `${caKey} CA: ${issued} certificates; server CPU ${(((total / hz) * 1e6) / issued).toFixed(0)} us/cert ` +
      `(main thread ${(((mainTicks / hz) * 1e6) / issued).toFixed(0)}, ` +
      `other threads ${((((total - mainTicks) / hz) * 1e6) / issued).toFixed(0)})`,
  );
  const cats = attribute(prof);
  const busy = [...cats].filter(([k]) => !k.startsWith('idle') && k !== 'start-up').reduce((a, [, v]) => a + v, 0);
  console.log('main-thread share of busy samples (start-up excluded):');
  for (const [k, v] of [...cats].sort((a, b) => b[1] - a[1])) {
    if (k.startsWith('idle') || k === 'start-up' || v < busy * 0.004) continue;
    console.log(`${((100 * v) / busy).toFixed(1).padStart(6)} %  ${k}`);
  }
  // Self time per function (the leaf frame of each sample), for finding the next hot spot.
  const self = new Map<string, number>();
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  prof.samples.forEach((id, i) => {
    const f = byId.get(id)!.callFrame;
    const k = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(dist|node:internal)\//, '')}`;
    self.set(k, (self.get(k) ?? 0) + (prof.timeDeltas[i] ?? 0));
  });
  console.log('top self time (share of busy samples):');
  for (const [k, v] of [...self]
    .filter(([k]) => !k.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 30)) {
    console.log(`${((100 * v) / busy).toFixed(1).padStart(6)} %  ${k}`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`ca profile: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
