/**
 * `make bench SCENARIO=eastwest`: the east-west gateway alone, as it ships
 * (`ambientd eastwest --config FILE`, its own process, CPU and RSS read from
 * /proc), between an HBONE client in this process (node:http2 over TLS 1.3,
 * ztunnel's settings) and pod stand-ins on <pod-ip>:15008. No ztunnel here:
 * the figures with real ztunnels on both ends belong to the dataplane rig.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as http from 'node:http';
import * as crypto from 'node:crypto';
import { waitFor } from '../../pkg/lifecycle';
import { spawnAmbientd, cleanEnv, MAIN_JS, type AmbientdProcess } from '../../e2e/ship/proc';
import { GLOBAL_HOST, hboneClient, startMesh, workloadCert, type MeshFixture } from '../../e2e/eastwest/fixture';
import { percentile, sampleProc } from '../lib/proc';
import { roundTrips } from '../lib/round-trips';
import type { Figure, ScenarioResult } from '../lib/types';

const get = (port: number, p: string): Promise<number> =>
  new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: p }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      })
      .on('error', () => resolve(0));
  });

async function startGateway(mesh: MeshFixture): Promise<{ p: AmbientdProcess; hbone: number }> {
  const g = mesh.gatewayFlags;
  const file = path.join(mesh.daemon.dir, 'eastwest.yaml');
  fs.writeFileSync(
    file,
    JSON.stringify({
      clusterId: g['cluster-id'],
      network: g.network,
      identity: g.identity,
      listen: [g.listen],
      xds: { address: g['xds-address'], rootCa: g['xds-root-ca'], authToken: g['xds-auth-token'] },
      admin: { listen: '127.0.0.1:0', debugListen: '127.0.0.1:0' },
      log: { level: 'warn' },
    }),
  );
  // Diagnosis only (e.g. BENCH_EASTWEST_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/p"); figures are taken without it.
  const extra = (process.env.BENCH_EASTWEST_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const command = extra.length ? [process.execPath, ...extra, MAIN_JS] : undefined;
  const p = spawnAmbientd(['eastwest', '--config', file, '--log-level=info'], { env: cleanEnv(), command });
  const line = await p.waitMsg('east-west gateway listening', 30_000);
  const ports = line.ports as { hbone: number[]; admin: number };
  await waitFor(async () => (await get(ports.admin, '/healthz/ready')) === 200, { timeoutMs: 20_000, what: 'ready' });
  return { p, hbone: ports.hbone[0]! };
}

export async function run(o: { mode: 'quick' | 'full' }): Promise<ScenarioResult> {
  const full = o.mode === 'full';
  const BULK = (full ? 4096 : 1024) * 1024 * 1024;
  const TUNNELS = full ? 10_000 : 2_000;
  const RTTS = full ? 20_000 : 5_000;
  const mesh = await startMesh({ flags: { 'limits-max-connections': '4096' } });
  const figures: Figure[] = [];
  const notes: string[] = [];
  const gw = await startGateway(mesh);
  const pid = gw.p.child.pid!;
  try {
    const id = await workloadCert(mesh.daemon, 'demo', 'bench');
    const c = await hboneClient(gw.hbone, id, mesh.gatewaySpiffe);

    // 1. Bulk: one tunnel, caller → pod, as fast as flow control allows.
    for (const d of mesh.dests) d.behaviour = 'discard';
    const bulk = await c.connect(`${GLOBAL_HOST}:80`);
    const chunk = crypto.randomBytes(256 * 1024);
    const in0 = mesh.dests.reduce((n, d) => n + d.bytesIn, 0);
    const s0 = sampleProc(pid);
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      let sent = 0;
      const pump = (): void => {
        while (sent < BULK) {
          sent += chunk.length;
          if (!bulk.stream.write(chunk)) return void bulk.stream.once('drain', pump);
        }
        bulk.stream.end();
        resolve();
      };
      pump();
    });
    const arrived = (): number => mesh.dests.reduce((n, d) => n + d.bytesIn, 0) - in0;
    await waitFor(() => arrived() >= BULK, { timeoutMs: 600_000, what: 'bulk bytes' });
    const secs = (performance.now() - t0) / 1000;
    const s1 = sampleProc(pid);
    figures.push({ name: 'bulk_throughput', value: (BULK * 8) / secs / 1e9, unit: 'Gbit/s' });
    figures.push({ name: 'gateway_cpu_per_gb', value: (s1.cpuMs - s0.cpuMs) / 1000 / (BULK / 1e9), unit: 'cpu-s/GB' });
    notes.push('bulk: one tunnel; the client, the daemon and the stand-ins share this process and the 2 cores');

    // 2. Established path: 64-byte echo round trips through a tunnel vs. straight to the stand-in.
    for (const d of mesh.dests) d.behaviour = 'echo';
    const est = await c.connect(`${GLOBAL_HOST}:80`);
    const rtt = roundTrips;
    const viaGw = await rtt(
      (b) => est.stream.write(b),
      (f) => est.stream.on('data', f),
      RTTS,
    );
    const direct = net.connect(15008, mesh.dests[0]!.ip);
    await new Promise((r) => direct.once('connect', r));
    direct.setNoDelay(true);
    const straight = await rtt(
      (b) => direct.write(b),
      (f) => direct.on('data', f),
      RTTS,
    );
    direct.destroy();
    const p = (v: number[], q: number): number => percentile(v, q);
    figures.push({ name: 'established_rtt_p50', value: p(viaGw, 50), unit: 'ms' });
    figures.push({ name: 'established_rtt_p99', value: p(viaGw, 99), unit: 'ms' });
    figures.push({ name: 'direct_rtt_p99', value: p(straight, 99), unit: 'ms' });
    figures.push({
      name: 'established_added_p99',
      value: p(viaGw, 99) - p(straight, 99),
      unit: 'ms',
      target: { op: '<=', value: 0.5 },
    });
    notes.push("added latency: the client side pays TLS and HTTP/2 here too; an upper bound of the gateway's share");

    // 3. New tunnels: CONNECT → 200 (includes the dial to the pod), 100 in flight per connection.
    const lat: number[] = [];
    const rss0 = sampleProc(pid).rssBytes;
    const t1 = performance.now();
    const held = [];
    for (let i = 0; i < TUNNELS / 100; i++) {
      const cc = await hboneClient(gw.hbone, id, mesh.gatewaySpiffe);
      held.push(cc);
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          const t = performance.now();
          const r = await cc.connect(`${GLOBAL_HOST}:80`);
          if (r.status !== 200) throw new Error(`CONNECT: ${r.status}`);
          lat.push(performance.now() - t);
        }),
      );
    }
    const rate = TUNNELS / ((performance.now() - t1) / 1000);
    const rss1 = sampleProc(pid).rssBytes;
    figures.push({ name: 'new_tunnels_per_second', value: rate, unit: '1/s' });
    figures.push({ name: 'connect_p50', value: p(lat, 50), unit: 'ms' });
    figures.push({ name: 'connect_p99', value: p(lat, 99), unit: 'ms' });
    const perTunnel = (rss1 - rss0) / TUNNELS / 1024;
    figures.push({ name: 'rss_per_idle_tunnel', value: perTunnel, unit: 'KiB', target: { op: '<=', value: 64 } });
    for (const h of held) h.close();
    c.close();
  } finally {
    // SIGTERM first: a profile (--cpu-prof) is written only on a clean exit; the drain is bounded.
    gw.p.signal('SIGTERM');
    await gw.p.waitExit(20_000).catch(() => undefined);
    gw.p.kill();
    await mesh.close();
  }
  const params = { mode: o.mode, bulkBytes: BULK, tunnels: TUNNELS, rtts: RTTS };
  return { scenario: 'eastwest', params, figures, notes };
}
