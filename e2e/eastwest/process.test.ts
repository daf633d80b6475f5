import t from 'tap';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type * as http2 from 'node:http2';
import { waitFor } from '../../pkg/lifecycle';
import { runAmbientd, spawnAmbientd, cleanEnv, type AmbientdProcess } from '../ship/proc';
import { GLOBAL_HOST, hboneClient, startMesh, workloadCert, type HboneClient, type MeshFixture } from './fixture';

/**
 * The gateway as it ships: `ambientd eastwest --config FILE` in its own
 * process, against an in-process daemon; its RSS with many idle tunnels and
 * its drain on SIGTERM.
 */
t.setTimeout(300_000);

const TUNNELS = 2_000;
/** The budget: gateway RSS per open tunnel (bench target, here a bound). */
const RSS_PER_TUNNEL = 64 * 1024;

const rssOf = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
};

const get = (port: number, p: string): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });

/** Config file for the settings with a file form; the rest stay flags (both paths of the option table). */
function writeConfig(mesh: MeshFixture, extra: Record<string, unknown>): { file: string; flags: string[] } {
  const g = mesh.gatewayFlags;
  const file = path.join(mesh.daemon.dir, 'eastwest.yaml');
  const cfg = {
    clusterId: g['cluster-id'],
    network: g.network,
    identity: g.identity,
    listen: [g.listen],
    xds: { address: g['xds-address'], rootCa: g['xds-root-ca'], authToken: g['xds-auth-token'] },
    ...extra,
  };
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2)); // YAML is a superset of JSON
  return { file, flags: [`--admin-listen=${g['admin-listen']}`, `--admin-debug-listen=${g['admin-debug-listen']}`] };
}

interface GatewayProcess {
  p: AmbientdProcess;
  hbone: number;
  admin: number;
  debug: number;
}

async function startGateway(mesh: MeshFixture, extra: Record<string, unknown>): Promise<GatewayProcess> {
  const { file, flags } = writeConfig(mesh, extra);
  const p = spawnAmbientd(['eastwest', '--config', file, ...flags], { env: cleanEnv() });
  const line = await p.waitMsg('east-west gateway listening', 30_000);
  const ports = line.ports as { hbone: number[]; admin: number; debug: number };
  const ready = async (): Promise<boolean> => (await get(ports.admin, '/healthz/ready')).status === 200;
  await waitFor(ready, { timeoutMs: 20_000, what: 'ready' });
  return { p, hbone: ports.hbone[0]!, admin: ports.admin, debug: ports.debug };
}

t.test('--help lists every setting; a bad config exits 2 naming each problem', async (t) => {
  const help = await runAmbientd(['eastwest', '--help'], { env: cleanEnv() });
  t.equal(help.exit.code, 0);
  const flags = [
    '--listen',
    '--xds-address',
    '--xds-root-ca',
    '--xds-auth-token',
    '--identity',
    '--limits-idle-timeout',
    '--drain-deadline',
  ];
  for (const flag of flags) t.match(help.stdout, flag, flag);
  const args = ['eastwest', '--listen', 'nope', '--identity', 'x', '--no-such', '1'];
  const bad = await runAmbientd(args, { env: cleanEnv() });
  t.equal(bad.exit.code, 2);
  const problems = [
    'listen: "nope" is not host:port',
    'identity: "x" is not ns/sa',
    'xds.rootCa: required',
    'xds.authToken: required',
    '--no-such: unknown flag',
  ];
  for (const p of problems) t.match(bad.stderr, p, p);
});

t.test(`${TUNNELS} idle tunnels: RSS bounded, each still works, the gateway serves new callers`, async (t) => {
  const mesh = await startMesh();
  t.teardown(() => mesh.close());
  const gw = await startGateway(mesh, { limits: { maxConnections: 64 } });
  // Killed and reaped before the mesh closes (teardowns run last-registered first): the gateway's sessions with
  // the daemon are gone by then, whatever the machine's load.
  t.teardown(async () => {
    gw.p.kill();
    await gw.p.waitExit();
  });
  const id = await workloadCert(mesh.daemon, 'demo', 'client');
  // Warm up one tunnel first, so the baseline includes the code paths and one TLS session.
  const warm = await hboneClient(gw.hbone, id, mesh.gatewaySpiffe);
  const w = await warm.connect(`${GLOBAL_HOST}:80`);
  t.equal(w.status, 200);
  w.stream.end();
  warm.close();
  const before = rssOf(gw.p.child.pid!);
  // ztunnel packs up to 100 streams per outer connection (src/proxy/pool.rs).
  const clients: HboneClient[] = [];
  const streams: http2.ClientHttp2Stream[] = [];
  for (let i = 0; i < TUNNELS / 100; i++) {
    const c = await hboneClient(gw.hbone, id, mesh.gatewaySpiffe);
    clients.push(c);
    const opened = await Promise.all(Array.from({ length: 100 }, () => c.connect(`${GLOBAL_HOST}:80`)));
    for (const o of opened) {
      if (o.status !== 200) throw new Error(`tunnel refused: ${o.status}`);
      streams.push(o.stream);
    }
  }
  t.teardown(() => clients.forEach((c) => c.close()));
  const listed = JSON.parse((await get(gw.debug, '/debug/tunnels')).body) as { open: number; connections: number };
  t.equal(listed.open, TUNNELS, 'every tunnel open at the gateway');
  t.equal(listed.connections, TUNNELS / 100);
  const after = rssOf(gw.p.child.pid!);
  const per = (after - before) / TUNNELS;
  const mib = (n: number): string => (n / 2 ** 20).toFixed(1);
  t.comment(`gateway RSS ${mib(before)} MiB -> ${mib(after)} MiB, ${(per / 1024).toFixed(1)} KiB per idle tunnel`);
  t.ok(per <= RSS_PER_TUNNEL, `RSS per idle tunnel ${(per / 1024).toFixed(1)} KiB <= ${RSS_PER_TUNNEL / 1024} KiB`);
  // A sample of the old tunnels still echoes, and a new caller is served.
  for (const s of [streams[0]!, streams[TUNNELS / 2]!, streams[TUNNELS - 1]!]) {
    let got = '';
    s.on('data', (d: Buffer) => void (got += d.toString()));
    s.write('still alive');
    await waitFor(() => got === 'still alive', { what: 'echo on an old tunnel' });
  }
  const fresh = await hboneClient(gw.hbone, id, mesh.gatewaySpiffe);
  t.equal((await fresh.connect(`${GLOBAL_HOST}:80`)).status, 200, 'a new caller is served');
  fresh.close();
});

t.test('SIGTERM: not ready, open tunnels keep working until the drain deadline, then exit 0', async (t) => {
  const mesh = await startMesh();
  t.teardown(() => mesh.close());
  const gw = await startGateway(mesh, { drainDeadline: '2s' });
  // Killed and reaped before the mesh closes (teardowns run last-registered first): the gateway's sessions with
  // the daemon are gone by then, whatever the machine's load.
  t.teardown(async () => {
    gw.p.kill();
    await gw.p.waitExit();
  });
  const id = await workloadCert(mesh.daemon, 'demo', 'client');
  const c = await hboneClient(gw.hbone, id, mesh.gatewaySpiffe);
  t.teardown(() => c.close());
  const { status, stream } = await c.connect(`${GLOBAL_HOST}:80`);
  t.equal(status, 200);
  let goaway = false;
  c.session.once('goaway', () => (goaway = true));
  gw.p.signal('SIGTERM');
  await waitFor(() => goaway, { what: 'GOAWAY on SIGTERM' });
  t.equal((await get(gw.admin, '/healthz/ready').catch(() => ({ status: 0 }))).status, 503, 'not ready while draining');
  let got = '';
  stream.on('data', (d: Buffer) => void (got += d.toString()));
  stream.write('during drain');
  await waitFor(() => got === 'during drain', { what: 'echo during drain' });
  const exit = await gw.p.waitExit(15_000);
  t.same(exit, { code: 0, signal: null }, 'exit 0 after the deadline');
  await waitFor(() => stream.closed, { what: 'the remaining tunnel cut at the deadline' });
  t.ok(
    gw.p.logs.some((l) => l.msg === 'stopped'),
    'logged its stop',
  );
});
