import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SimProc, wallNow } from './sim-proc';
import { percentile, sampleProc } from './proc';

/** What the bare transport achieved for one message to N streams (see bench/sim/floor-server.ts). */
export interface FloorResult {
  p50: number;
  p99: number;
  lastP99: number;
  /** Server CPU per change per stream (µs), ACK reading included. */
  cpuPerStreamUs: number;
  /** The simulated clients' CPU per change per stream (µs): receipt, parse, ACK. */
  clientCpuPerStreamUs: number;
  /** With stateSize: streams-1 clients reconnecting with initial_resource_versions for stateSize names. */
  stormMs?: number;
  stormServerCpuMs?: number;
  stormClientCpuMs?: number;
  /** Every receipt latency (ms), for the CDF chart. */
  lat: number[];
}

/** A throwaway self-signed P-256 serving certificate for istiod.istio-system.svc, for the bare floor servers. */
export function istiodServingCert(tag: string): { dir: string; key: string; cert: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ambientd-bench-${tag}-`));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=istiod',
    '-addext', 'subjectAltName=DNS:istiod.istio-system.svc', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { dir, key, cert };
}

/**
 * Runs the transport floor: the bare node:http2 server and the same simulated
 * ztunnels as the daemon phases, `changes` broadcasts to `streams` streams.
 * Latency = just before the server is told to write -> each client's receipt.
 */
export async function transportFloor(o: { streams: number; changes: number; batch?: number; stateSize?: number }): Promise<FloorResult> {
  const { dir, key, cert } = istiodServingCert('floor');
  const srv = new SimProc(path.join(__dirname, '..', 'sim', 'floor-server.js'), [], [key, cert, String(o.batch ?? 0), String(o.stateSize ?? 0)]);
  const sim = new SimProc(path.join(__dirname, '..', 'sim', 'xds-sim.js'));
  try {
    const { port } = (await srv.next('ready')) as { port: number };
    await sim.next('ready');
    sim.send({ cmd: 'init', init: { address: `127.0.0.1:${port}`, rootCaPem: fs.readFileSync(cert, 'utf8'), token: 'unused' } });
    let stormMs: number | undefined;
    let stormServerCpuMs: number | undefined;
    let stormClientCpuMs: number | undefined;
    if (o.stateSize) {
      // One client takes the full state, then the rest reconnect presenting it (as in the daemon phases).
      sim.send({ cmd: 'connect', n: 1, withState: false });
      await sim.next('connected', 300_000);
      srv.send({ cmd: 'cpu' });
      const a0 = Number((await srv.next('cpu')).cpuMs);
      const b0 = sampleProc(sim.pid);
      sim.send({ cmd: 'connect', n: o.streams - 1, withState: true });
      stormMs = Number((await sim.next('connected', 600_000)).ms);
      srv.send({ cmd: 'cpu' });
      stormServerCpuMs = Number((await srv.next('cpu')).cpuMs) - a0;
      stormClientCpuMs = sampleProc(sim.pid).cpuMs - b0.cpuMs;
    } else {
      sim.send({ cmd: 'connect', n: o.streams, withState: false });
      await sim.next('connected', 300_000);
    }
    const lat: number[] = [];
    const last: number[] = [];
    srv.send({ cmd: 'cpu' });
    const c0 = Number((await srv.next('cpu')).cpuMs);
    const s0 = sampleProc(sim.pid);
    for (let i = 1; i <= o.changes; i++) {
      const uid = `floor//Pod/ns/p-${i}`;
      sim.send({ cmd: 'expect', uid });
      await sim.next('expecting');
      const t0 = wallNow();
      srv.send({ cmd: 'cast', uid });
      const got = await sim.next('got', 60_000);
      await srv.next('cast');
      const times = (got.times as number[]).map((x) => x - t0);
      lat.push(...times);
      last.push(Math.max(...times));
    }
    srv.send({ cmd: 'cpu' });
    const c1 = Number((await srv.next('cpu')).cpuMs);
    const s1 = sampleProc(sim.pid);
    return { p50: percentile(lat, 50), p99: percentile(lat, 99), lastP99: percentile(last, 99), cpuPerStreamUs: ((c1 - c0) / o.changes / o.streams) * 1000, clientCpuPerStreamUs: ((s1.cpuMs - s0.cpuMs) / o.changes / o.streams) * 1000, lat, stormMs, stormServerCpuMs, stormClientCpuMs };
  } finally {
    sim.close();
    srv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
