import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SimProc, wallNow } from './sim-proc';
import { sampleProc } from './proc';
import type { Pinning } from './pin';

/** A throwaway self-signed P-256 serving certificate for istiod.istio-system.svc, for the bare floor servers. */
export function istiodServingCert(tag: string): { dir: string; key: string; cert: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ambientd-bench-${tag}-`));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=istiod',
      '-addext',
      'subjectAltName=DNS:istiod.istio-system.svc',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { dir, key, cert };
}

/** One fan-out round on the floor: latencies and CPU per stream per change. */
export interface FloorFanout {
  lat: number[];
  last: number[];
  cpuPerStreamUs: number;
  clientCpuPerStreamUs: number;
}

/** The floor server and its simulated clients, kept up so its rounds interleave with the daemon's. */
export interface Floor {
  /** One client takes the full state (stateSize names), as the daemon's first client does. */
  firstSync(): Promise<void>;
  /** n clients connect presenting the state (the previous storm's n closed first): wall ms, server/client CPU ms. */
  storm(n: number): Promise<{ ms: number; failed: number; serverCpuMs: number; clientCpuMs: number }>;
  /** `changes` broadcasts to every connected stream (`streams` of them). */
  fanout(changes: number, streams: number): Promise<FloorFanout>;
  /**
   * The churn floor: every connected stream gets a message of each traced size at its offset ([ms, bytes], what
   * one daemon client received in a phase); server CPU ms over max(trace, windowMs) and that window's length.
   */
  replay(trace: [number, number][], windowMs: number): Promise<{ cpuMs: number; ms: number }>;
  close(): void;
}

export async function startFloor(o: { batch?: number; stateSize?: number; pin?: Pinning }): Promise<Floor> {
  const { dir, key, cert } = istiodServingCert('floor');
  const args = [key, cert, String(o.batch ?? 0), String(o.stateSize ?? 0)];
  const srv = new SimProc(path.join(__dirname, '..', 'sim', 'floor-server.js'), [], args, o.pin?.server);
  const sim = new SimProc(path.join(__dirname, '..', 'sim', 'xds-sim.js'), [], [], o.pin?.clients);
  const serverCpu = async (): Promise<number> => {
    srv.send({ cmd: 'cpu' });
    return Number((await srv.next('cpu')).cpuMs);
  };
  let stormed = 0;
  const { port } = (await srv.next('ready')) as { port: number };
  await sim.next('ready');
  const rootCaPem = fs.readFileSync(cert, 'utf8');
  sim.send({ cmd: 'init', init: { address: `127.0.0.1:${port}`, rootCaPem, token: 'unused' } });
  return {
    async firstSync() {
      sim.send({ cmd: 'connect', n: 1, withState: false });
      await sim.next('connected', 300_000);
    },
    async storm(n) {
      if (stormed > 0) {
        sim.send({ cmd: 'closeLast', n: stormed });
        await sim.next('lastClosed');
        await quiet(srv.pid);
      }
      const a0 = await serverCpu();
      const b0 = sampleProc(sim.pid);
      sim.send({ cmd: 'connect', n, withState: true, countFailed: true });
      const done = await sim.next('connected', 600_000);
      stormed = n;
      const clientCpuMs = sampleProc(sim.pid).cpuMs - b0.cpuMs;
      return { ms: Number(done.ms), failed: Number(done.failed), serverCpuMs: (await serverCpu()) - a0, clientCpuMs };
    },
    async fanout(changes, streams) {
      const lat: number[] = [];
      const last: number[] = [];
      const c0 = await serverCpu();
      const s0 = sampleProc(sim.pid);
      for (let i = 1; i <= changes; i++) {
        const uid = `floor//Pod/ns/p-${++casts}`;
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
      const c1 = await serverCpu();
      const s1 = sampleProc(sim.pid);
      const perStream = (ms: number): number => (ms / changes / streams) * 1000;
      return { lat, last, cpuPerStreamUs: perStream(c1 - c0), clientCpuPerStreamUs: perStream(s1.cpuMs - s0.cpuMs) };
    },
    async replay(trace, windowMs) {
      srv.send({ cmd: 'replay', trace, windowMs });
      const r = await srv.next('replayed', windowMs + 120_000);
      return { cpuMs: Number(r.cpuMs), ms: Number(r.ms) };
    },
    close() {
      sim.close();
      srv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
let casts = 0;

/**
 * Waits (bounded, 10 s) until process `pid` used under 2 ms of CPU in a 100 ms window: the
 * teardown of the previous storm's connections is over and is not counted in the next one.
 */
export async function quiet(pid: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let a = sampleProc(pid).cpuMs;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100)); // the sampling window of the condition, not synchronisation
    const b = sampleProc(pid).cpuMs;
    if (b - a < 2) return;
    a = b;
  }
}
