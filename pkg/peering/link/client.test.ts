import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createSilentLogger } from '../../log';
import { systemClock, waitFor } from '../../lifecycle';
import { loadWire } from '../../wire';
import type { GatewayObj } from '../../model';
import { PeerClient, type PeerIdentityMaterial } from './client';
import { SecureContexts } from './tls-context';
import { PeerCall } from './peer-call';
import { PeerPartition, StringPool } from '../state';
import { peeringTypes } from './wire-types';
import { validatePeerGateway } from '../core';
import { PEERING_PROTO, TYPE_CLUSTER_INFO } from '../core';
import { Admission } from './admission';

// A throwaway PKI: two unrelated roots, server leaves with the right and a wrong SPIFFE id, our client leaf.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-peer-client-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const run = (args: string[]): void => void execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const f = (n: string): string => path.join(dir, n);
function root(name: string): string {
  run([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    f(`${name}-key.pem`),
    '-out',
    f(`${name}.pem`),
    '-subj',
    `/O=${name}`,
    '-days',
    '1',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
  ]);
  return fs.readFileSync(f(`${name}.pem`), 'utf8');
}
function leaf(ca: string, name: string, sans: string): { cert: string; key: string } {
  run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f(`${name}-key.pem`)]);
  run(['req', '-new', '-key', f(`${name}-key.pem`), '-subj', `/O=${name}`, '-out', f(`${name}.csr`)]);
  fs.writeFileSync(
    f(`${name}.ext`),
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' +
      `extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${sans}\n`,
  );
  run([
    'x509',
    '-req',
    '-in',
    f(`${name}.csr`),
    '-CA',
    f(`${ca}.pem`),
    '-CAkey',
    f(`${ca}-key.pem`),
    '-set_serial',
    '2',
    '-days',
    '1',
    '-sha256',
    '-extfile',
    f(`${name}.ext`),
    '-out',
    f(`${name}.pem`),
  ]);
  return { cert: fs.readFileSync(f(`${name}.pem`), 'utf8'), key: fs.readFileSync(f(`${name}-key.pem`), 'utf8') };
}
const meshRoot = root('mesh-root');
const otherRoot = root('other-root');
const good = leaf('mesh-root', 'good', 'URI:spiffe://cluster.local/ns/istio-system/sa/istiod,DNS:localhost');
const rogue = leaf('mesh-root', 'rogue', 'URI:spiffe://cluster.local/ns/istio-system/sa/rogue');
const client = leaf('mesh-root', 'client', 'URI:spiffe://cluster.local/ns/istio-system/sa/istiod');
const identity: PeerIdentityMaterial = { certChainPem: client.cert, keyPem: client.key, trustBundlePem: meshRoot };

/**
 * A minimal peer xDS endpoint: mTLS against the mesh root, answers the stream with gRPC response headers;
 * with `answer`, also one empty ClusterInfo response to the first request (enough for a ClusterInfo-only client to
 * sync).
 */
async function server(
  t: Test,
  cred: { cert: string; key: string },
  answer = false,
): Promise<{ port: number; snis: (string | false)[] }> {
  const snis: (string | false)[] = [];
  const s = http2.createSecureServer({
    cert: cred.cert,
    key: cred.key,
    ca: meshRoot,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
  });
  s.on('secureConnection', (sock: TLSSocket) =>
    snis.push((sock as TLSSocket & { servername?: string | false }).servername ?? false),
  );
  s.on('stream', (st) => {
    st.respond({ ':status': 200, 'content-type': 'application/grpc' });
    let answered = !answer;
    st.on('data', () => {
      if (answered) return;
      answered = true;
      const msg = wire.DeltaDiscoveryResponse.encode(
        wire.DeltaDiscoveryResponse.fromObject({ typeUrl: TYPE_CLUSTER_INFO, nonce: '1' }),
      ).finish();
      const frame = Buffer.alloc(5 + msg.length);
      frame.writeUInt32BE(msg.length, 1);
      frame.set(msg, 5);
      st.write(frame);
    });
    st.on('error', () => undefined);
  });
  s.on('sessionError', () => undefined);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        for (const x of [...((s as unknown as { sessions?: Set<http2.ServerHttp2Session> }).sessions ?? [])])
          x.destroy();
        s.close(() => r());
      }),
  );
  return { port: (s.address() as { port: number }).port, snis };
}

const wire = loadWire({ extraFiles: [PEERING_PROTO] });
const decoders = peeringTypes(wire);

function peer(
  t: Test,
  o: {
    port: number;
    address?: { type: string; value: string };
    trustDomain?: string;
    contexts: SecureContexts;
    rootsFor: (td: string) => string;
    admission?: Admission;
  },
): PeerClient {
  const gw: GatewayObj = {
    kind: 'Gateway',
    name: `peer-${o.port}`,
    namespace: 'istio-gateways',
    gatewayClassName: 'istio-remote',
    labels: { 'topology.istio.io/network': `n-${o.port}` },
    annotations: o.trustDomain ? { 'gateway.istio.io/trust-domain': o.trustDomain } : {},
    addresses: [o.address ?? { type: 'IPAddress', value: '127.0.0.1' }],
    statusAddresses: [],
    listeners: [{ name: 'xds-tls', port: o.port, protocol: 'TLS' }],
  } as unknown as GatewayObj;
  const decl = validatePeerGateway(gw, { localTrustDomain: 'cluster.local', peerIdentity: 'istio-system/istiod' });
  if (!('key' in decl)) throw new Error(decl.reason);
  const c = new PeerClient({
    decl,
    partition: new PeerPartition(decl.cluster),
    types: [TYPE_CLUSTER_INFO],
    decoders,
    wire,
    localCluster: 'local',
    identityNamespace: 'istio-system',
    identity: () => identity,
    rootsFor: o.rootsFor,
    contexts: o.contexts,
    pool: new StringPool(),
    logger: createSilentLogger(),
    clock: systemClock,
    backoff: { initialMs: 50, maxMs: 200 },
    admission: o.admission,
    onChange: () => undefined,
    onSynced: () => undefined,
    onStateChange: () => undefined,
    onTermination: () => undefined,
  });
  t.teardown(() => c.close());
  c.start();
  return c;
}

t.test(
  'peer links share one TLS context per (roots, identity) and still refuse a wrong identity or a foreign root',
  async (t) => {
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }): void => void warnings.push(w.code ?? w.message);
    process.on('warning', onWarning);
    t.teardown(() => void process.off('warning', onWarning));
    const ok = await server(t, good);
    const bad = await server(t, rogue);
    const contexts = new SecureContexts();
    // Per trust domain roots: cluster.local -> the mesh root; other.td -> an unrelated root.
    const rootsFor = (td: string): string => (td === 'cluster.local' ? meshRoot : otherRoot);
    const byIp = peer(t, { port: ok.port, contexts, rootsFor });
    const byName = peer(t, { port: ok.port, address: { type: 'Hostname', value: 'localhost' }, contexts, rootsFor });
    const wrongId = peer(t, { port: bad.port, contexts, rootsFor });
    await waitFor(() => byIp.state.connected && byName.state.connected, { timeoutMs: 10_000 });
    await waitFor(() => wrongId.state.lastTermination !== undefined, { timeoutMs: 10_000 });
    t.equal(wrongId.state.connected, false);
    t.equal(wrongId.state.lastTermination!.reason, 'server_identity', 'right root, wrong SPIFFE id: refused');
    t.match(
      wrongId.state.lastTermination!.message,
      new RegExp(
        'want spiffe://cluster\\.local/ns/istio-system/sa/istiod, ' +
          'got spiffe://cluster\\.local/ns/istio-system/sa/rogue',
      ),
    );
    t.equal(contexts.created, 1, 'three links, one context');
    // The server chain is checked against the roots of the peer's trust domain only.
    const foreign = peer(t, { port: ok.port, trustDomain: 'other.td', contexts, rootsFor });
    await waitFor(() => foreign.state.lastTermination !== undefined, { timeoutMs: 10_000 });
    t.equal(foreign.state.lastTermination!.reason, 'tls', "server chain not under the trust domain's roots: refused");
    t.equal(foreign.state.connected, false);
    t.equal(contexts.created, 2, 'a different root bundle gets its own context');
    // SNI: the hostname peer sends it, IP peers send none (RFC 6066 §3) and Node has nothing to warn about.
    t.ok(ok.snis.includes('localhost'), 'hostname peer sends SNI');
    t.ok(ok.snis.includes(false), 'IP peer sends no SNI');
    t.notOk(warnings.includes('DEP0123'), 'no DEP0123 warning');
  },
);

t.test('keepalive: a stall of our own event loop past the ping timeout does not drop a healthy link', async (t) => {
  const ok = await server(t, good);
  const contexts = new SecureContexts();
  let ended: string | undefined;
  let up = false;
  const call = new PeerCall({
    host: '127.0.0.1',
    port: ok.port,
    path: '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources',
    secureContext: contexts.get(meshRoot, identity),
    checkServerIdentity: () => undefined,
    maxMessageBytes: 1 << 20,
    keepaliveMs: 30,
    keepaliveTimeoutMs: 20,
    onEstablished: () => void (up = true),
    onMessage: () => undefined,
    onEnd: (_c, d) => void (ended = d),
  });
  t.teardown(() => call.cancel());
  await waitFor(() => up, { timeoutMs: 10_000 });
  // Stall synchronously right after each ping goes out, well past the 20 ms ack timeout: the ACK
  // arrives during the stall, so the timer and the ACK are both pending when the loop resumes.
  const session = (call as unknown as { session: http2.ClientHttp2Session }).session;
  const ping = session.ping.bind(session);
  let pings = 0;
  (session as unknown as { ping: typeof ping }).ping = ((
    cb: (err: Error | null, duration: number, payload: Buffer) => void,
  ) => {
    const r = ping(cb);
    const until = Date.now() + 80;
    while (Date.now() < until) {
      /* a synchronous stall, as a long push or fsync would cause */
    }
    pings++;
    return r;
  }) as typeof ping;
  await waitFor(() => pings >= 5 || ended !== undefined, { timeoutMs: 10_000 });
  await new Promise((r) => setImmediate(r));
  t.equal(ended, undefined, 'the link survived the stalls');
});

t.test('a new identity generation builds a new context', async (t) => {
  const contexts = new SecureContexts();
  const a = contexts.get(meshRoot, identity);
  t.equal(contexts.get(meshRoot, { ...identity }), a, 'same material, same context');
  const rotated = leaf('mesh-root', 'client2', 'URI:spiffe://cluster.local/ns/istio-system/sa/istiod');
  t.not(contexts.get(meshRoot, { certChainPem: rotated.cert, keyPem: rotated.key, trustBundlePem: meshRoot }), a);
  t.equal(contexts.created, 2);
});

t.test('dials wait for an admission slot, held until the first sync, given back on close', async (t) => {
  const answering = await server(t, good, true);
  const silent1 = await server(t, good);
  const silent2 = await server(t, good);
  const contexts = new SecureContexts();
  const rootsFor = (): string => meshRoot;
  const admission = new Admission({ limit: 1, holdMs: 600_000 });
  t.teardown(() => admission.clear());
  const first = peer(t, { port: answering.port, contexts, rootsFor, admission });
  const second = peer(t, { port: silent1.port, contexts, rootsFor, admission });
  const third = peer(t, { port: silent2.port, contexts, rootsFor, admission });
  // The first holds the only slot until its first sync; then the second dials.
  await waitFor(() => first.state.synced, { timeoutMs: 10_000 });
  await waitFor(() => silent1.snis.length === 1 && second.state.connected, { timeoutMs: 10_000 });
  // The second is connected but its peer never answers: it keeps the slot, the third waits undialled.
  t.equal(admission.inFlight, 1);
  t.equal(admission.queued, 1, 'the third waits');
  t.equal(silent2.snis.length, 0, 'the third has not dialled');
  t.equal(third.state.connects, 0);
  // Closing the second gives its slot back.
  second.close();
  await waitFor(() => silent2.snis.length === 1 && third.state.connected, { timeoutMs: 10_000 });
  t.equal(admission.queued, 0);
  t.equal(admission.admitted, 3);
  t.equal(answering.snis.length, 1, 'the synced link was not redialled');
});
