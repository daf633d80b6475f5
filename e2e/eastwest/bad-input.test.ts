import t, { type Test } from 'tap';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { waitFor } from '../../pkg/lifecycle';
import { createTestPki } from '../harness/pki';
import {
  GLOBAL_HOST,
  hboneClient,
  readAll,
  startGatewayFixture,
  type GatewayFixture,
  type HboneClient,
  type WorkloadCert,
} from './fixture';

/**
 * Bad input at the HBONE port, one test each: a clear refusal (counted by
 * reason), the gateway stays up, and a tunnel opened before keeps working.
 */
t.setTimeout(240_000);
const foreign = createTestPki({ prefix: 'ambientd-ew-foreign-', rootCn: 'Foreign Root' });
const peer = createTestPki({ prefix: 'ambientd-ew-peer-', rootCn: 'Peer Root' });
t.teardown(() => {
  foreign.cleanup();
  peer.cleanup();
});
const MAX_CONNECTIONS = 200;
const BAD_REQUEST = { status: 400, after: 200 };
const UNAVAILABLE = { status: 503, after: 200 };
let f: GatewayFixture;
let canary: { c: HboneClient; stream: http2.ClientHttp2Stream; n: number };
let meshRoots: string;

t.before(async () => {
  f = await startGatewayFixture({
    trustBundles: { 'peer.td': peer.rootCertFile },
    flags: {
      'limits-handshake-timeout': '1s',
      'limits-session-idle-timeout': '1s',
      'limits-max-connections': String(MAX_CONNECTIONS),
    },
  });
  const id = await f.workloadCert('demo', 'canary');
  meshRoots = id.rootsPem;
  const c = await hboneClient(f.hbonePort, id, f.gatewaySpiffe);
  const { status, stream } = await c.connect(`${GLOBAL_HOST}:80`);
  if (status !== 200) throw new Error(`canary tunnel: ${status}`);
  canary = { c, stream, n: 0 };
});
t.teardown(async () => {
  canary?.c.close();
  await f?.close();
});

/** The tunnel opened before the bad input still echoes. */
async function canaryAlive(t: Test): Promise<void> {
  const msg = `canary-${++canary.n}`;
  let got = '';
  const on = (d: Buffer): void => void (got += d.toString());
  canary.stream.on('data', on);
  canary.stream.write(msg);
  await waitFor(() => got.includes(msg), { what: 'canary echo' });
  canary.stream.off('data', on);
  t.pass('a tunnel opened before is unaffected');
}

async function refusals(reason: string): Promise<number> {
  return f.metric('ambientd_eastwest_refusals_total', { reason });
}

/** Answer to one CONNECT (or other method) on a fresh trusted connection, then a valid one on the same connection. */
async function ask(headers: http2.OutgoingHttpHeaders): Promise<{ status: number; after: number }> {
  const c = await hboneClient(f.hbonePort, await f.workloadCert('demo', 'client'), f.gatewaySpiffe);
  try {
    const s = c.session.request(headers, { endStream: false });
    s.on('error', () => undefined);
    const status = await new Promise<number>((resolve, reject) => {
      s.once('response', (h) => resolve(Number(h[':status'])));
      s.once('close', () => reject(new Error(`closed without an answer (rst ${s.rstCode})`)));
    });
    const ok = await c.connect(`${GLOBAL_HOST}:80`);
    ok.stream.close();
    return { status, after: ok.status };
  } finally {
    c.close();
  }
}

/** Connects with the given identity; 'closed' when the gateway drops the connection before any answer. */
async function attempt(id: WorkloadCert): Promise<number | 'closed'> {
  let c: HboneClient;
  try {
    c = await hboneClient(f.hbonePort, id, f.gatewaySpiffe);
  } catch {
    return 'closed';
  }
  try {
    return (await c.connect(`${GLOBAL_HOST}:80`)).status;
  } catch {
    return 'closed';
  } finally {
    c.close();
  }
}

const leaf = (pki: ReturnType<typeof createTestPki>, name: string, uri: string): WorkloadCert => {
  const l = pki.leaf(name, [`URI:${uri}`]);
  return { certChainPem: l.certPem, keyPem: l.keyPem, rootsPem: meshRoots };
};

t.test('malformed CONNECT: 400, the connection stays up for other streams', async (t) => {
  const before = { m: await refusals('method_not_allowed'), a: await refusals('bad_authority') };
  const authority = `${GLOBAL_HOST}:80`;
  t.same(await ask({ ':method': 'GET', ':path': '/', ':authority': authority }), BAD_REQUEST, 'GET');
  t.same(await ask({ ':method': 'POST', ':path': '/x', ':authority': authority }), BAD_REQUEST, 'POST');
  const bad = [
    GLOBAL_HOST,
    `${GLOBAL_HOST}:`,
    `${GLOBAL_HOST}:0`,
    `${GLOBAL_HOST}:70000`,
    'bad_host!:80',
    `${GLOBAL_HOST}:80:80`,
  ];
  for (const a of bad) {
    t.same(await ask({ ':method': 'CONNECT', ':authority': a }), BAD_REQUEST, `authority ${JSON.stringify(a)}`);
  }
  t.equal(await refusals('method_not_allowed'), before.m + 2);
  t.equal(await refusals('bad_authority'), before.a + 6);
  // Not HTTP/2 at all after a good handshake: the connection is closed, nothing else.
  const id = await f.workloadCert('demo', 'client');
  const s = tls.connect({
    host: '127.0.0.1',
    port: f.hbonePort,
    ALPNProtocols: ['h2'],
    ca: id.rootsPem,
    cert: id.certChainPem,
    key: id.keyPem,
    checkServerIdentity: () => undefined,
  });
  s.on('error', () => undefined);
  s.resume();
  await new Promise((r) => s.once('secureConnect', r));
  s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => s.destroyed || s.readableEnded, { what: 'garbage connection closed' });
  await canaryAlive(t);
});

t.test('unknown or non-exported authority: 503', async (t) => {
  const before = {
    h: await refusals('unknown_host'),
    n: await refusals('not_exported'),
    p: await refusals('unknown_port'),
  };
  const dials = f.dests.reduce((n, d) => n + d.accepted, 0);
  const connect = (a: string): Promise<{ status: number; after: number }> =>
    ask({ ':method': 'CONNECT', ':authority': a });
  t.same(await connect('nope.demo.mesh.internal:80'), UNAVAILABLE, 'unknown global name');
  t.same(await connect('example.com:443'), UNAVAILABLE, 'a name of no mesh');
  t.same(await connect('local.demo.svc.cluster.local:80'), UNAVAILABLE, 'local-only');
  t.same(await connect(`${GLOBAL_HOST}:81`), UNAVAILABLE, 'no such port');
  t.equal(await refusals('unknown_host'), before.h + 2);
  t.equal(await refusals('not_exported'), before.n + 1);
  t.equal(await refusals('unknown_port'), before.p + 1);
  t.equal(
    f.dests.reduce((n, d) => n + d.accepted, 0),
    dials + 4,
    'no dial for a refused stream (only the 4 valid)',
  );
  await canaryAlive(t);
});

t.test('IP authority: 400', async (t) => {
  const before = await refusals('ip_authority');
  t.same(await ask({ ':method': 'CONNECT', ':authority': `${f.dests[0]!.ip}:15008` }), BAD_REQUEST, 'a pod IP');
  t.same(await ask({ ':method': 'CONNECT', ':authority': '[::1]:80' }), BAD_REQUEST, 'IPv6');
  t.equal(await refusals('ip_authority'), before + 2);
  await canaryAlive(t);
});

t.test('unauthenticated caller: the handshake fails, nothing is answered', async (t) => {
  const before = await refusals('tls_handshake');
  t.equal(await attempt({ certChainPem: '', keyPem: '', rootsPem: meshRoots }), 'closed', 'no client certificate');
  await waitFor(async () => (await refusals('tls_handshake')) > before, { what: 'tls_handshake counted' });
  await canaryAlive(t);
});

t.test('foreign-trust callers are refused; a configured peer trust domain is accepted', async (t) => {
  const hs = await refusals('tls_handshake');
  const ut = await refusals('untrusted_caller');
  t.equal(
    await attempt(leaf(foreign, 'foreign', 'spiffe://cluster.local/ns/demo/sa/client')),
    'closed',
    'unknown root, local trust domain',
  );
  await waitFor(async () => (await refusals('tls_handshake')) > hs, { what: 'tls_handshake counted' });
  t.equal(
    await attempt(leaf(peer, 'impostor', 'spiffe://cluster.local/ns/demo/sa/client')),
    'closed',
    'peer root vouching for our trust domain',
  );
  t.equal(
    await attempt(leaf(peer, 'third', 'spiffe://third.td/ns/demo/sa/client')),
    'closed',
    'trust domain not accepted',
  );
  t.equal(await attempt(leaf(peer, 'nospiffe', 'https://example.com/x')), 'closed', 'no SPIFFE id');
  await waitFor(async () => (await refusals('untrusted_caller')) >= ut + 3, { what: 'untrusted_caller counted' });
  t.equal(
    await attempt(leaf(peer, 'peer', 'spiffe://peer.td/ns/demo/sa/client')),
    200,
    'peer trust domain with its own root',
  );
  await canaryAlive(t);
});

t.test('slowloris on 15008: silent and trickling connections are closed at the handshake deadline', async (t) => {
  const before = await refusals('handshake_timeout');
  const socks: net.Socket[] = [];
  for (let i = 0; i < 40; i++) {
    const s = net.connect(f.hbonePort, '127.0.0.1');
    s.on('error', () => undefined);
    // Half of them send the first bytes of a TLS record and stall.
    if (i % 2) s.once('connect', () => s.write(Buffer.from([0x16, 0x03, 0x01, 0x02])));
    socks.push(s);
  }
  await waitFor(() => socks.every((s) => s.destroyed || s.readableEnded), {
    timeoutMs: 15_000,
    what: 'slow connections closed',
  });
  await waitFor(async () => (await refusals('handshake_timeout')) >= before + 40, {
    what: 'handshake_timeout counted',
  });
  for (const s of socks) s.destroy();
  // After the handshake, a connection that opens no tunnel gets GOAWAY at the session idle deadline.
  const idle = await refusals('session_idle');
  const c = await hboneClient(f.hbonePort, await f.workloadCert('demo', 'client'), f.gatewaySpiffe);
  let goaway = false;
  c.session.once('goaway', () => (goaway = true));
  await waitFor(() => goaway || c.session.closed, { timeoutMs: 10_000, what: 'GOAWAY to an idle connection' });
  t.equal(await refusals('session_idle'), idle + 1);
  c.close();
  await canaryAlive(t);
});

t.test('connections beyond the limit are closed at accept', async (t) => {
  const before = await refusals('max_connections');
  const socks: net.Socket[] = [];
  for (let i = 0; i < MAX_CONNECTIONS + 20; i++) {
    const s = net.connect(f.hbonePort, '127.0.0.1');
    s.on('error', () => undefined);
    socks.push(s);
  }
  await waitFor(async () => (await refusals('max_connections')) >= before + 19, {
    what: 'connections dropped at the limit',
  });
  for (const s of socks) s.destroy();
  await waitFor(() => f.metric('ambientd_eastwest_connections_open').then((n) => n <= 2), { what: 'sockets released' });
  t.equal(await attempt(await f.workloadCert('demo', 'client')), 200, 'a new caller is served again');
  await canaryAlive(t);
});

t.test('a destination that resets, or is down', async (t) => {
  for (const d of f.dests) d.behaviour = 'reset';
  const c = await hboneClient(f.hbonePort, await f.workloadCert('demo', 'client'), f.gatewaySpiffe);
  t.teardown(() => c.close());
  const { status, stream } = await c.connect(`${GLOBAL_HOST}:80`);
  t.equal(status, 200, 'connected');
  stream.write('x');
  await waitFor(() => stream.closed, { what: 'reset reaches the caller' });
  t.equal(stream.rstCode, http2.constants.NGHTTP2_CONNECT_ERROR, 'RST_STREAM(CONNECT_ERROR)');
  for (const d of f.dests) d.behaviour = 'echo';
  // Down: connects are refused, the caller gets 503.
  const dial = await refusals('dial_failed');
  for (const d of f.dests) d.down();
  const r = await c.connect(`${GLOBAL_HOST}:80`);
  t.equal(r.status, 503, 'dial refused: 503');
  t.equal(await refusals('dial_failed'), dial + 1);
  for (const d of f.dests) await d.listen();
  const ok = await c.connect(`${GLOBAL_HOST}:80`);
  t.equal(ok.status, 200, 'same connection, destination back');
  ok.stream.end('again');
  t.equal((await readAll(ok.stream)).toString(), 'again');
  await canaryAlive(t);
});
