/**
 * `make bench SCENARIO=relay-floor`: what relaying one TLS 1.3 flow costs a Node process, on loopback. The relay
 * (bench/sim/relay-floor.ts, its own process, CPU from /proc) runs in four modes, in alternating rounds so all
 * see the same machine load:
 *  - tls: TLS termination piped to a plain TCP socket (the floor for any Node relay of a TLS flow);
 *  - tls-batched: tls with the gateway's write batching toward the destination;
 *  - h2:  the same TLS plus node:http2 CONNECT (the east-west gateway's settings), stream piped to a TCP socket;
 *  - gateway: h2 with the gateway's own relay (pkg/eastwest Tunnel) instead of pipe(); the only ambientd code.
 * The client (this process) pushes the bytes in 256 KiB writes; a discard server (this process) counts them. After
 * each bulk run, 64-byte round trips through the same relay to an echo (TCP_NODELAY everywhere): the latency floor.
 * With real ztunnels, the dataplane scenario puts the h2 relay and the gateway in the same place.
 */
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as stream from 'node:stream';
import * as tls from 'node:tls';
import { waitFor } from '../../pkg/lifecycle';
import { percentile, sampleProc } from '../lib/proc';
import { roundTrips } from '../lib/round-trips';
import { makeCa, mintLeaf, startLocalRelay, type PemFiles } from '../lib/relay-floor';
import type { Figure, ScenarioResult } from '../lib/types';

const SIZES = { quick: { mib: 256, rounds: 8, rtts: 500 }, full: { mib: 1024, rounds: 12, rtts: 2000 } };
const CIPHERS = 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256';

type Mode = 'tls' | 'tls-batched' | 'h2' | 'gateway';
const MODES: readonly Mode[] = ['tls', 'tls-batched', 'h2', 'gateway'];

interface Conn {
  w: stream.Duplex;
  close(): void;
}

/** A TLS connection (tls modes) or a CONNECT stream on an HTTP/2 connection (h2 modes) through the relay. */
async function open(mode: Mode, port: number, id: PemFiles, ca: string): Promise<Conn> {
  const opts = {
    host: '127.0.0.1',
    port,
    cert: fs.readFileSync(id.cert),
    key: fs.readFileSync(id.key),
    ca: fs.readFileSync(ca),
    minVersion: 'TLSv1.3' as const,
    ciphers: CIPHERS,
    ALPNProtocols: ['h2'],
    checkServerIdentity: () => undefined,
  };
  if (mode.startsWith('tls')) {
    const s = tls.connect(opts);
    s.on('error', () => undefined);
    s.setNoDelay(true);
    await new Promise((r) => s.once('secureConnect', r));
    return { w: s, close: () => s.destroy() };
  }
  // ztunnel's client settings (src/proxy/h2/client.rs): 4 MiB stream, 16 MiB connection window, 1 MiB frames.
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    ...opts,
    settings: { initialWindowSize: 4 << 20, maxFrameSize: 1 << 20, enablePush: false },
  });
  session.on('error', () => undefined);
  session.on('connect', (_s, sock) => sock.setNoDelay(true));
  const st = session.request({ ':method': 'CONNECT', ':authority': 'sink.bench.mesh.internal:80' });
  st.on('error', () => undefined);
  await new Promise((r) => st.once('response', r));
  st.once('close', () => session.close());
  return { w: st, close: () => session.destroy() };
}

async function push(mode: Mode, port: number, id: PemFiles, ca: string, bytes: number): Promise<void> {
  const { w } = await open(mode, port, id, ca);
  const chunk = Buffer.alloc(256 * 1024, 7);
  let sent = 0;
  const go = (): void => {
    while (sent < bytes) {
      sent += chunk.length;
      if (!w.write(chunk)) return void w.once('drain', go);
    }
    w.end();
  };
  go();
}

/** 64-byte round trips through the relay to the echo side of the destination server (first byte 'E'). */
async function rtt(mode: Mode, port: number, id: PemFiles, ca: string, n: number): Promise<number[]> {
  const c = await open(mode, port, id, ca);
  // The first 50 warm the path; only the ones after them count. Any message starting with 'E' is echoed.
  const on = (f: (d: Buffer) => void): void => void c.w.on('data', f);
  const all = await roundTrips((b) => c.w.write(b), on, n + 50);
  const out = all.slice(50);
  c.close();
  return out;
}

export async function run(o: { mode: 'quick' | 'full' }): Promise<ScenarioResult> {
  const size = SIZES[o.mode];
  const bytes = size.mib << 20;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-relay-floor-'));
  let received = 0;
  // The destination: a connection whose first byte is 'E' is echoed (round trips), any other is counted and dropped.
  const sink = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('error', () => 0);
    let echo: boolean | undefined;
    s.on('data', (b: Buffer) => {
      echo ??= b[0] === 0x45;
      if (echo) s.write(b);
      else received += b.length;
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const dest = `127.0.0.1:${(sink.address() as net.AddressInfo).port}`;
  const ca = makeCa(dir);
  const server = mintLeaf(dir, 'relay', ca, 'spiffe://cluster.local/ns/istio-system/sa/istio-eastwest');
  const client = mintLeaf(dir, 'client', ca, 'spiffe://cluster.local/ns/bench/sa/client');
  const relays: Record<Mode, Awaited<ReturnType<typeof startLocalRelay>>> = {} as never;
  const cpu = Object.fromEntries(MODES.map((m) => [m, [] as number[]])) as Record<Mode, number[]>;
  const gbps = Object.fromEntries(MODES.map((m) => [m, [] as number[]])) as Record<Mode, number[]>;
  const rtts = Object.fromEntries(MODES.map((m) => [m, [] as number[]])) as Record<Mode, number[]>;
  const loadStart = os.loadavg();
  try {
    for (const mode of MODES) {
      relays[mode] = await startLocalRelay({
        mode,
        listen: '127.0.0.1:0',
        cert: server.cert,
        key: server.key,
        ca: ca.cert,
        destinations: [dest],
      });
    }
    const once = async (mode: Mode, n: number): Promise<{ cpuS: number; secs: number }> => {
      const pid = relays[mode].child.pid!;
      const r0 = received;
      const c0 = sampleProc(pid);
      const t0 = performance.now();
      await push(mode, relays[mode].port, client, ca.cert, n);
      await waitFor(() => received - r0 >= n, { timeoutMs: 300_000, intervalMs: 2, what: `${mode} bytes` });
      return { cpuS: (sampleProc(pid).cpuMs - c0.cpuMs) / 1000, secs: (performance.now() - t0) / 1000 };
    };
    for (const mode of MODES) await once(mode, 32 << 20); // warm-up (JIT), discarded
    for (let r = 0; r < size.rounds; r++) {
      for (const mode of r % 2 === 0 ? MODES : [...MODES].reverse()) {
        const m = await once(mode, bytes);
        cpu[mode].push(m.cpuS / (bytes / 1e9));
        gbps[mode].push((bytes * 8) / m.secs / 1e9);
        rtts[mode].push(...(await rtt(mode, relays[mode].port, client, ca.cert, size.rtts)));
      }
    }
  } finally {
    for (const r of Object.values(relays)) r.child.kill('SIGTERM');
    sink.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const med = (xs: number[]): number => percentile(xs, 50);
  const figures: Figure[] = [];
  for (const mode of MODES) {
    const n = mode.replace('-', '_');
    figures.push({ name: `${n}_relay_cpu_per_gb`, value: med(cpu[mode]), unit: 'CPU s/GB' });
    figures.push({ name: `${n}_relay_cpu_per_gb_min`, value: Math.min(...cpu[mode]), unit: 'CPU s/GB' });
    figures.push({ name: `${n}_relay_throughput`, value: med(gbps[mode]), unit: 'Gbit/s' });
    figures.push({ name: `${n}_relay_rtt_p50`, value: percentile(rtts[mode], 50), unit: 'ms' });
    figures.push({ name: `${n}_relay_rtt_p99`, value: percentile(rtts[mode], 99), unit: 'ms' });
  }
  figures.push({ name: 'h2_vs_tls_relay_cpu', value: med(cpu.h2) / med(cpu.tls), unit: 'x' });
  figures.push({
    name: 'gateway_vs_h2_relay_rtt_p99_added',
    unit: 'ms',
    value: percentile(rtts.gateway, 99) - percentile(rtts.h2, 99),
  });
  figures.push({ name: 'gateway_vs_h2_relay_cpu', value: med(cpu.gateway) / med(cpu.h2), unit: 'x' });
  figures.push({
    name: 'gateway_vs_tls_batched_relay_cpu',
    value: med(cpu.gateway) / med(cpu['tls-batched']),
    unit: 'x',
  });
  const f = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' ');
  return {
    scenario: 'relay-floor',
    params: { ...size, mode: o.mode },
    figures,
    notes: [
      `per round CPU-s/GB, ${MODES.map((m) => `${m}: ${f(cpu[m])}`).join('; ')}`,
      'one flow, client -> relay -> discard server on loopback; the client and the sink share this process',
    ],
    detail: {
      cpuPerGb: cpu,
      gbps,
      rttP99PerMode: Object.fromEntries(MODES.map((m) => [m, percentile(rtts[m], 99)])),
      loadAverageAtStart: loadStart,
      loadAverageAtEnd: os.loadavg(),
    },
  };
}
