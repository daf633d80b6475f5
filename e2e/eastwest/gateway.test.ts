import t, { type Test } from 'tap';
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { waitFor } from '../../pkg/lifecycle';
import {
  startGatewayFixture,
  hboneClient,
  readAll,
  GLOBAL_HOST,
  LOCAL_HOST,
  type DestStandIn,
  type GatewayFixture,
} from './fixture';

/** The gateway's relay, end to end: real daemon, real TLS, real TCP to pod stand-ins on <pod-ip>:15008. */
t.setTimeout(240_000);
let f: GatewayFixture;
t.before(async () => {
  f = await startGatewayFixture();
});
t.teardown(async () => f?.close());

const get = (port: number, path: string): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });

/** The stand-in that accepted a connection since `before` (accept counts per stand-in). */
const newDest = async (before: number[]): Promise<DestStandIn> =>
  await waitFor(() => f.dests.find((d, i) => d.accepted > before[i]!), { what: 'destination connection' });

t.test('a trusted caller reaches an exported service; bytes relayed both ways', async (t) => {
  const id = await f.workloadCert('demo', 'client');
  const c = await hboneClient(f.hbonePort, id, f.gatewaySpiffe);
  t.same(c.serverSans, [f.gatewaySpiffe], 'the gateway presents its own SPIFFE id');
  const tls = c.session.socket as import('node:tls').TLSSocket;
  t.equal(tls.getProtocol(), 'TLSv1.3');
  t.match(tls.getCipher().name, /^TLS_AES_(128|256)_GCM_SHA(256|384)$/);
  t.equal(c.session.alpnProtocol, 'h2');
  t.ok((c.session.remoteSettings.maxConcurrentStreams ?? 0) >= 100, 'MAX_CONCURRENT_STREAMS >= 100');
  t.equal(c.session.remoteSettings.initialWindowSize, 4 * 1024 * 1024, '4 MiB stream window');
  for (const host of [GLOBAL_HOST, LOCAL_HOST]) {
    const { status, stream } = await c.connect(`${host}:80`);
    t.equal(status, 200, `${host}: 200 after the connect`);
    stream.end(Buffer.from(`hello ${host}`));
    t.equal((await readAll(stream)).toString(), `hello ${host}`, 'echoed through the destination stand-in');
  }
  const pong = await new Promise<boolean>((resolve) => c.session.ping((err) => resolve(!err)));
  t.ok(pong, 'PING answered');
  c.close();
});

/**
 * One tunnel to a destination under the test's control (no echo), opened by a
 * workload client; both are closed and echo restored at teardown.
 */
async function manualTunnel(t: Test) {
  for (const d of f.dests) d.behaviour = 'manual';
  t.teardown(() => {
    for (const d of f.dests) d.behaviour = 'echo';
  });
  const c = await hboneClient(f.hbonePort, await f.workloadCert('demo', 'client'), f.gatewaySpiffe);
  t.teardown(() => c.close());
  const before = f.dests.map((d) => d.accepted);
  const { status, stream } = await c.connect(`${GLOBAL_HOST}:80`);
  t.equal(status, 200);
  const dest = await newDest(before);
  return { stream, dest, sock: dest.last()! };
}

t.test('half-close: each direction ends on its own', async (t) => {
  const { stream, dest, sock } = await manualTunnel(t);
  const fins = dest.finsSeen;
  stream.end('request'); // END_STREAM
  await waitFor(() => dest.finsSeen > fins, { what: 'FIN at the destination' });
  t.equal(Buffer.concat(dest.received.slice(-1)).toString(), 'request');
  t.notOk(stream.destroyed, 'the tunnel is still open for the other direction');
  // The destination answers after the caller's FIN, then ends: END_STREAM toward the caller.
  const reply = readAll(stream);
  sock.write('reply after half-close');
  sock.end();
  t.equal((await reply).toString(), 'reply after half-close');
  await waitFor(() => f.gateway.tunnelCount === 0, { what: 'tunnel released' });
  t.equal(stream.rstCode, http2.constants.NGHTTP2_NO_ERROR, 'closed cleanly, not reset');
});

t.test('large transfers both ways respect flow control', async (t) => {
  const { stream, sock } = await manualTunnel(t);
  sock.pause(); // the destination reads nothing yet
  const TOTAL = 64 * 1024 * 1024;
  const chunk = crypto.randomBytes(256 * 1024);
  const sentHash = crypto.createHash('sha256');
  let sent = 0;
  let blocked = false;
  const pump = (): void => {
    while (sent < TOTAL) {
      sent += chunk.length;
      sentHash.update(chunk);
      if (!stream.write(chunk)) {
        blocked = true;
        stream.once('drain', () => {
          blocked = false;
          pump();
        });
        return;
      }
    }
    stream.end();
  };
  pump();
  // Wait until the caller is held back and nothing more moves toward the paused destination.
  let last = -1;
  await waitFor(
    () => {
      const now = f.gateway.tunnelCount ? sent : -2;
      const settled = blocked && now === last;
      last = now;
      return settled;
    },
    { timeoutMs: 20_000, intervalMs: 200, what: 'the caller blocked by flow control' },
  );
  t.ok(sent < TOTAL, `caller held back at ${sent} of ${TOTAL} bytes`);
  t.ok(sent <= 32 * 1024 * 1024, 'at most the HTTP/2 windows and socket buffers in flight');
  // Let it go: everything arrives, intact.
  const got = crypto.createHash('sha256');
  let gotBytes = 0;
  sock.on('data', (d: Buffer) => {
    gotBytes += d.length;
    got.update(d);
  });
  sock.resume();
  await waitFor(() => sock.readableEnded && gotBytes === TOTAL, {
    timeoutMs: 60_000,
    what: 'all bytes and the FIN at the destination',
  });
  t.equal(got.digest('hex'), sentHash.digest('hex'), 'caller → destination: 64 MiB intact');

  // And back: the destination writes 64 MiB as fast as the caller reads.
  const backHash = crypto.createHash('sha256');
  let written = 0;
  const write = (): void => {
    while (written < TOTAL) {
      written += chunk.length;
      backHash.update(chunk);
      if (!sock.write(chunk)) return void sock.once('drain', write);
    }
    sock.end();
  };
  const recvHash = crypto.createHash('sha256');
  let recv = 0;
  stream.on('data', (d: Buffer) => {
    recv += d.length;
    recvHash.update(d);
  });
  write();
  await waitFor(() => stream.readableEnded, { timeoutMs: 60_000, what: 'end of the reply' });
  t.equal(recv, TOTAL);
  t.equal(recvHash.digest('hex'), backHash.digest('hex'), 'destination → caller: 64 MiB intact');
});

t.test('metrics, debug listing and readiness', async (t) => {
  const c = await hboneClient(f.hbonePort, await f.workloadCert('demo', 'client'), f.gatewaySpiffe);
  t.teardown(() => c.close());
  const { status, stream } = await c.connect(`${GLOBAL_HOST}:80`);
  t.equal(status, 200);
  stream.write('x');
  const ports = f.gateway.ports!;
  type Listing = { open: number; tunnels: Record<string, unknown>[] };
  const tunnels = JSON.parse((await get(ports.debug, '/debug/tunnels')).body) as Listing;
  t.equal(tunnels.open, 1);
  t.equal(tunnels.tunnels[0]!.caller, 'spiffe://cluster.local/ns/demo/sa/client');
  t.equal(tunnels.tunnels[0]!.authority, `${GLOBAL_HOST}:80`);
  t.match(tunnels.tunnels[0]!.endpoint, new RegExp(`^${f.base.replace(/\./g, '\\.')}\\.0\\.\\d+:15008$`));
  type Routes = { hostname: string; endpoints: unknown[] }[];
  const routes = JSON.parse((await get(ports.debug, '/debug/routes')).body) as Routes;
  t.same(
    routes.map((r) => [r.hostname, r.endpoints.length]),
    [[GLOBAL_HOST, 2]],
    'only the exported service',
  );
  t.equal((await get(ports.admin, '/debug/tunnels')).status, 404, 'debug routes only on the loopback debug port');
  t.equal((await get(ports.admin, '/healthz/ready')).status, 200);
  const scrape = (await get(ports.admin, '/metrics')).body;
  for (const name of [
    'ambientd_eastwest_connections_total',
    'ambientd_eastwest_tunnels_total',
    'ambientd_eastwest_tunnels_open 1',
    'ambientd_eastwest_tunnel_bytes_total{direction="to_destination"}',
    'ambientd_eastwest_refusals_total{reason="unknown_host"}',
    'ambientd_eastwest_dial_duration_seconds_bucket',
    'ambientd_eastwest_ready 1',
    'ambientd_eastwest_xds_connected 1',
  ])
    t.ok(scrape.includes(name), name);
  if (fs.existsSync('/usr/bin/promtool')) {
    const out = execFileSync('/usr/bin/promtool', ['check', 'metrics'], { input: scrape, encoding: 'utf8' });
    t.equal(out.trim(), '', 'promtool finds nothing to lint');
  }
  stream.end();
});

t.test('drain: no new tunnels, open ones finish, then the gateway stops', async (t) => {
  for (const d of f.dests) d.behaviour = 'manual';
  const c = await hboneClient(f.hbonePort, await f.workloadCert('demo', 'client'), f.gatewaySpiffe);
  t.teardown(() => c.close());
  const before = f.dests.map((d) => d.accepted);
  const { status, stream } = await c.connect(`${GLOBAL_HOST}:80`);
  t.equal(status, 200);
  const dest = await newDest(before);
  let gotGoaway = false;
  c.session.once('goaway', () => (gotGoaway = true));
  const closing = f.gateway.close(30_000);
  let closed = false;
  void closing.then(() => (closed = true));
  t.equal((await get(f.gateway.ports!.admin, '/healthz/ready')).status, 503, 'not ready while draining');
  t.ok(await waitFor(() => gotGoaway, { what: 'GOAWAY at the caller' }), 'GOAWAY: no new streams on this connection');
  // The open tunnel still carries bytes both ways.
  const sock = dest.last()!;
  stream.write('still here');
  await waitFor(() => Buffer.concat(dest.received).toString().includes('still here'), { what: 'bytes after GOAWAY' });
  const reply = readAll(stream);
  sock.end('bye');
  stream.end();
  t.equal((await reply).toString(), 'bye');
  await waitFor(() => closed, { timeoutMs: 10_000, what: 'drain finished once the tunnel ended' });
  t.equal(f.gateway.tunnelCount, 0);
});
