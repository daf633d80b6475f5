import t from 'tap';
import type { Test } from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TYPE_ADDRESS } from '../../pkg/wire';
import { CA_SERVICE_PATH } from '../../pkg/caserver';
import { testWire } from '../harness/xds-fixture';
import { ZtunnelClient } from '../harness/ztunnel-client';
import { MINI_MESH, REPO_ROOT, loopbackFlags, runAmbientd, spawnAmbientd, tempDir, type AmbientdProcess } from './proc';

/** A daemon process on loopback with a temp state dir and a one-pod registry. */
async function serve(
  t: Test,
  extra: string[] = [],
  configYaml?: string,
): Promise<{ p: AmbientdProcess; dir: string; stateDir: string; port: number; config: string }> {
  const dir = tempDir(t);
  const stateDir = path.join(dir, 'state');
  const registryDir = path.join(dir, 'registry');
  fs.mkdirSync(registryDir);
  fs.writeFileSync(path.join(registryDir, 'mesh.yaml'), MINI_MESH);
  const config = path.join(dir, 'config.yaml');
  const args = ['serve', ...loopbackFlags(stateDir, registryDir), ...extra];
  if (configYaml !== undefined) {
    fs.writeFileSync(config, configYaml);
    args.push(`--config=${config}`);
  }
  const p = spawnAmbientd(args);
  t.teardown(() => p.kill());
  const serving = await p.waitMsg('ambientd serving');
  return { p, dir, stateDir, port: serving.grpcPort as number, config };
}

/** `ambientd token create` against the daemon's state dir, as an operator would run it. */
async function mintToken(stateDir: string): Promise<string> {
  const r = await runAmbientd([
    'token',
    'create',
    '--state-dir',
    stateDir,
    '--namespace',
    'istio-system',
    '--service-account',
    'ztunnel',
  ]);
  if (r.exit.code !== 0) throw new Error(`token create failed: ${r.stderr}`);
  return r.stdout.trim();
}

function rootCa(stateDir: string): string {
  return fs.readFileSync(path.join(stateDir, 'ca/root-cert.pem'), 'utf8');
}

/**
 * Opens a CA call whose request body never completes, so the gRPC server
 * has an in-flight call that a graceful shutdown must wait for. Resolves once
 * the server has seen the stream: HTTP/2 frames are processed in order, so
 * the PING ack proves the HEADERS frame before it was handled.
 */
async function hangingCall(t: Test, port: number, ca: string): Promise<http2.ClientHttp2Stream> {
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    ca,
    servername: 'istiod.istio-system.svc',
    minVersion: 'TLSv1.3',
  });
  session.on('error', () => undefined); // the daemon going away is the point of the test
  t.teardown(() => session.destroy());
  const req = session.request(
    { ':method': 'POST', ':path': CA_SERVICE_PATH, 'content-type': 'application/grpc', te: 'trailers' },
    { endStream: false },
  );
  req.on('error', () => undefined);
  // A gRPC frame header announcing 100 bytes, then nothing more.
  req.write(Buffer.from([0, 0, 0, 0, 100]));
  // A ping sent before the TLS handshake completes is cancelled, so wait for it.
  if (!session.alpnProtocol)
    await new Promise<void>((resolve, reject) => session.once('connect', () => resolve()).once('error', reject));
  await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
  return req;
}

t.test('SIGTERM with ztunnel streams open: streams end UNAVAILABLE, the daemon drains and exits 0', async (t) => {
  const { p, stateDir, port } = await serve(t);
  const token = await mintToken(stateDir);
  const clients = [1, 2].map((i) => {
    const z = new ZtunnelClient({
      wire: testWire(),
      address: `127.0.0.1:${port}`,
      rootCaPem: rootCa(stateDir),
      serverName: 'istiod.istio-system.svc',
      token,
      clusterId: 'c1',
      podName: `ztunnel-${i}`,
    });
    t.teardown(() => z.close());
    z.connect();
    return z;
  });
  for (const z of clients) await z.until(() => z.held(TYPE_ADDRESS).has('c1//Pod/default/web-1'), 'initial sync');
  t.pass('two ztunnel streams are open and synced');
  const from = p.logs.length;
  p.signal('SIGTERM');
  for (const z of clients) {
    const st = await z.until(() => z.status, 'stream end', 12_000);
    if (!st) throw new Error('unreachable: until() resolves truthy');
    t.equal(st.code, grpc.status.UNAVAILABLE, 'stream ended with UNAVAILABLE so ztunnel reconnects elsewhere');
  }
  // Bounded by the default drain deadline (10 s) plus process exit.
  const exit = await p.waitExit(12_000);
  t.same(exit, { code: 0, signal: null }, 'exit 0');
  const msgs = p.logs.slice(from).map((l) => l.msg);
  t.ok(msgs.includes('draining'), 'logged draining');
  t.ok(msgs.includes('stopped'), 'graceful close completed');
  t.notOk(msgs.includes('drain deadline passed: forcing shutdown'), 'finished within the deadline');
});

t.test('an in-flight call that never finishes: forced shutdown at the drain deadline, exit 0', async (t) => {
  const { p, stateDir, port } = await serve(t, ['--drain-deadline=1s']);
  await hangingCall(t, port, rootCa(stateDir));
  const from = p.logs.length;
  p.signal('SIGTERM');
  await p.waitMsg('drain deadline passed: forcing shutdown', 10_000, from);
  const exit = await p.waitExit(10_000);
  t.same(exit, { code: 0, signal: null }, 'exit 0 after the deadline');
  t.notOk(
    p.logs.slice(from).some((l) => l.msg === 'stopped'),
    'the graceful path did not claim completion',
  );
});

t.test('a second signal during the drain exits at once (code 1)', async (t) => {
  // A 10 min deadline: only the second signal can end this process within the test's bound.
  const { p, stateDir, port } = await serve(t, ['--drain-deadline=10m']);
  await hangingCall(t, port, rootCa(stateDir));
  const from = p.logs.length;
  p.signal('SIGINT');
  await p.waitMsg('draining', 10_000, from);
  t.equal(p.exit, undefined, 'still draining: the in-flight call holds the graceful close');
  p.signal('SIGTERM');
  const exit = await p.waitExit(10_000);
  t.same(exit, { code: 1, signal: null }, 'exit 1: forced, not clean');
  t.ok(
    p.logs.slice(from).some((l) => l.msg === 'second signal: exiting now' && l.signal === 'SIGTERM'),
    'logged the forced exit',
  );
});

t.test(
  'SIGHUP: an invalid config is rejected whole and the running one kept; ' +
    'a valid one applies log.level live and reports restart-only settings',
  async (t) => {
    const yaml = (level: string, debounceMax: string, extra = ''): string =>
      `log:\n  level: ${level}\nxds:\n  debounceMax: ${debounceMax}\n${extra}`;
    const { p, config, port, stateDir } = await serve(t, [], yaml('info', '50ms'));
    const hup = (content: string): number => {
      fs.writeFileSync(config, content);
      const from = p.logs.length;
      p.signal('SIGHUP');
      return from;
    };

    // 1. Invalid: a bad value, an unknown key, and a level change that must NOT be half-applied.
    let from = hup(yaml('warn', '50ms', 'bogusSetting: 1\n') + 'drainDeadline: soon\n');
    const rejected = await p.waitMsg('reload: new configuration rejected; keeping the running one', 10_000, from);
    t.equal(rejected.level, 50, 'logged as an error');
    t.match(String(rejected.error), /bogusSetting/, 'names the unknown setting');
    t.match(String(rejected.error), /drainDeadline/, 'names the bad duration');

    // 2. Valid, same level, one restart-only change. The info-level "reloaded"
    //    line appearing proves the level stayed info through step 1.
    from = hup(yaml('info', '60ms'));
    const restart = await p.waitMsg('reload: these settings change only after a restart', 10_000, from);
    t.same(restart.settings, ['xds.debounceMax'], 'restart-only change reported, not applied');
    const reloaded = await p.waitMsg('reloaded', 10_000, from);
    t.same(reloaded.applied, [], 'nothing live changed');

    // 3. Level to warn (live), then 4. back to info: "reloaded" (info) appears
    //    only if the level really went back.
    from = hup(yaml('warn', '60ms'));
    await p.waitMsg('reload: these settings change only after a restart', 10_000, from);
    from = hup(yaml('info', '60ms'));
    const back = await p.waitMsg('reloaded', 5_000, from);
    t.ok((back.applied as string[]).includes('log.level'), 'log.level applied live, both ways');

    // The daemon kept serving throughout.
    const z = new ZtunnelClient({
      wire: testWire(),
      address: `127.0.0.1:${port}`,
      rootCaPem: rootCa(stateDir),
      serverName: 'istiod.istio-system.svc',
      token: await mintToken(stateDir),
      clusterId: 'c1',
    });
    t.teardown(() => z.close());
    z.connect();
    await z.until(() => z.held(TYPE_ADDRESS).has('c1//Pod/default/web-1'), 'sync after reloads');
    t.equal(p.exit, undefined, 'still running');
  },
);

t.test('SIGTERM flushes peer state to disk; a restart with the peer down restores it before serving', async (t) => {
  const dir = tempDir(t);
  // One shared root with an intermediate per cluster, from the dev PKI tool (small keys: speed).
  execFileSync(
    'make',
    [
      '-s',
      '-C',
      path.join(REPO_ROOT, 'certs'),
      `OUT=${path.join(dir, 'pki')}`,
      'ROOTCA_KEYSZ=2048',
      'INTERMEDIATE_KEYSZ=2048',
      'cluster-a-cacerts',
      'cluster-b-cacerts',
    ],
    { stdio: 'ignore' },
  );
  const reg = (c: string, extra = ''): string => {
    const r = path.join(dir, `registry-${c}`);
    fs.mkdirSync(r);
    fs.copyFileSync(
      path.join(REPO_ROOT, `examples/two-cluster/cluster-${c}/mesh/mesh.yaml`),
      path.join(r, 'mesh.yaml'),
    );
    if (extra) fs.writeFileSync(path.join(r, 'peers.yaml'), extra);
    return r;
  };
  const flags = (c: string, registryDir: string): string[] => [
    ...loopbackFlags(path.join(dir, `state-${c}`), registryDir).map((f) =>
      f.replace('--cluster-id=c1', `--cluster-id=cluster-${c}`),
    ),
    `--ca-dir=${path.join(dir, `pki/cluster-${c}`)}`,
  ];
  // B exports its global "reviews"; A declares B as a peer (one-way link: A dials and imports).
  const b = spawnAmbientd(['serve', ...flags('b', reg('b'))]);
  t.teardown(() => b.kill());
  const bPort = (await b.waitMsg('ambientd serving')).grpcPort as number;
  const aRegistry = reg(
    'a',
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: istio-remote-peer-cluster-b
  namespace: istio-gateways
  labels: { topology.istio.io/network: net-b, topology.istio.io/cluster: cluster-b }
spec:
  gatewayClassName: istio-remote
  addresses: [{ type: IPAddress, value: 127.0.0.1 }]
  listeners:
  - { name: xds-tls, port: ${bPort}, protocol: TLS, tls: { mode: Passthrough } }
  - { name: cross-network, port: 15008, protocol: HBONE, tls: { mode: Passthrough } }
`,
  );
  const a = spawnAmbientd(['serve', ...flags('a', aRegistry)]);
  t.teardown(() => a.kill());
  const synced = await a.waitMsg('peer cluster-b synced (1 services)', 15_000);
  t.equal(synced.peer, 'cluster-b', 'A imported from B');
  // Issue #4 point 7: istiod's DISABLE_LEGACY_MULTICLUSTER (on by default) is accepted and logged once as a no-op.
  const legacy = a.logs.filter((l) => String(l.msg).startsWith('DISABLE_LEGACY_MULTICLUSTER'));
  t.same(
    legacy.map((l) => l.msg),
    ['DISABLE_LEGACY_MULTICLUSTER: no-op, ambientd has no remote-kubeconfig discovery'],
    'logged once, as a no-op',
  );
  const file = path.join(dir, 'state-a/peers/cluster-b.json');
  t.comment(
    `peer file before SIGTERM: ${fs.existsSync(file) ? 'already saved by the 1 s save timer' : 'not yet written'}`,
  );
  a.signal('SIGTERM');
  t.same(await a.waitExit(12_000), { code: 0, signal: null }, 'A drained and exited 0');
  t.ok(fs.existsSync(file), 'peer state on disk after exit');
  t.match(fs.readFileSync(file, 'utf8'), /reviews/, 'it holds the imported service');

  // B goes away; A restarts and serves the imported data from disk.
  b.signal('SIGTERM');
  t.same(await b.waitExit(12_000), { code: 0, signal: null }, 'B exited 0');
  const a2 = spawnAmbientd(['serve', ...flags('a', aRegistry)]);
  t.teardown(() => a2.kill());
  const restored = await a2.waitMsg('restored persisted peer data');
  t.equal(restored.services, 1, 'restored one service');
  const serving = await a2.waitMsg('ambientd serving');
  t.ok(a2.logs.indexOf(restored) < a2.logs.indexOf(serving), 'restored before the port opened');
  a2.signal('SIGTERM');
  t.same(await a2.waitExit(12_000), { code: 0, signal: null }, 'exit 0 with the peer unreachable');
});
