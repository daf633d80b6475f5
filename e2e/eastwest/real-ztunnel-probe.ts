import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { bytesToIp } from '../../pkg/model';
import { waitFor } from '../../pkg/lifecycle';
import { makePki, ns, pods, remote, startCluster } from '../peering/harness';
import { CLUSTER, NETWORK, startGatewayFixture } from './fixture';
import type { LooseJson } from '../harness/loose-json';

/**
 * Run inside a network namespace of its own (real-ztunnel.test.ts does that):
 * an unmodified ztunnel in dedicated mode for a pod of cluster A (net-a),
 * pointed at A's daemon, which imports echo.demo from B (net-b); B's east-west
 * gateway in front of a pod stand-in. Traffic enters ztunnel through SOCKS5 to
 * the global VIP. The stand-in is no ztunnel, so the inner handshake cannot
 * finish; what it receives must be the inner TLS ClientHello. Prints one JSON
 * line with what was observed.
 */
const ADDRESS = 'type.googleapis.com/istio.workload.Address';
const DEST_PORT = 25008; // the ztunnel holds 15008 in this namespace

async function main(ztunnel: string): Promise<void> {
  const pki = makePki(['cluster-a', CLUSTER]);
  const b = await startGatewayFixture({
    pki: pki.dir,
    identity: 'istio-gateways/istio-eastwest',
    destPort: DEST_PORT,
    flags: { 'admin-listen': '127.0.0.1:0' },
  });
  for (const d of b.dests) d.behaviour = 'manual';
  const a = await startCluster({
    name: 'cluster-a',
    network: 'net-a',
    pki: pki.dir,
    files: {
      'ns.yaml': ns('demo'),
      'client.yaml': pods('client', 'demo', 1, '127.31'),
      'peer-b.yaml': remote({ cluster: CLUSTER, network: NETWORK, port: b.daemon.daemon.grpcPort, hbone: b.hbonePort }),
    },
  });
  const z = a.ztunnel();
  z.connect();
  const svc = await waitFor(() => z.held(ADDRESS).get('demo/echo.demo.mesh.internal')?.value as LooseJson, {
    what: 'global service at A',
  });
  const vip = bytesToIp(svc.service.addresses[0].address);
  const root = path.join(a.dir, 'root.pem');
  fs.writeFileSync(root, a.daemon.authority.rootBundlePem());
  const token = path.join(a.dir, 'client-token');
  fs.writeFileSync(token, a.token('demo', 'client')); // the workload's own account: the CA signs the token's identity
  const xds = `https://127.0.0.1:${a.daemon.grpcPort}`;
  const zt = spawn(ztunnel, [], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      PROXY_MODE: 'dedicated',
      PROXY_WORKLOAD_INFO: 'demo/client-0/client',
      NETWORK: 'net-a',
      CLUSTER_ID: 'cluster-a',
      XDS_ADDRESS: xds,
      CA_ADDRESS: xds,
      XDS_ROOT_CA: root,
      CA_ROOT_CA: root,
      ALT_XDS_HOSTNAME: 'istiod.istio-system.svc',
      ALT_CA_HOSTNAME: 'istiod.istio-system.svc',
      AUTH_TOKEN: token,
      ENABLE_ORIG_SRC: 'false',
      UNSTABLE_ENABLE_SOCKS5: 'true',
      ISTIO_META_DNS_CAPTURE: 'false',
      ZTUNNEL_WORKER_THREADS: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  zt.stdout.on('data', (d: Buffer) => (log += d.toString()));
  zt.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const ready = (): Promise<boolean> =>
    new Promise((resolve) => {
      http
        .get({ host: '127.0.0.1', port: 15021, path: '/healthz/ready' }, (r) => {
          r.resume();
          resolve(r.statusCode === 200);
        })
        .on('error', () => resolve(false));
    });
  await waitFor(ready, { timeoutMs: 20_000, intervalMs: 50, what: 'ztunnel ready' });
  // SOCKS5 (RFC 1928): no auth, CONNECT VIP:80.
  const s = net.connect(15080, '127.0.0.1');
  s.on('error', () => undefined);
  await new Promise((r) => s.once('connect', r));
  s.write(Buffer.from([5, 1, 0]));
  await new Promise((r) => s.once('data', r));
  s.write(Buffer.from([5, 1, 0, 1, ...vip.split('.').map(Number), 0, 80]));
  const reply = (await new Promise<Buffer>((r) => s.once('data', r)))[1];
  s.write('hello');
  const got = (): Buffer => Buffer.concat(b.dests.flatMap((d) => d.received));
  await waitFor(() => got().length >= 5, { timeoutMs: 15_000, what: 'bytes at the pod stand-in' }).catch(
    () => undefined,
  ); // reported below as what arrived
  const counted = await b.registry.getSingleMetric('ambientd_eastwest_refusals_total')!.get();
  const refusals = counted.values.filter((v) => v.value > 0);
  const out = {
    vip,
    socksReply: reply,
    received: got().length,
    firstBytes: got().subarray(0, 3).toString('hex'),
    tunnels: await b.metric('ambientd_eastwest_tunnels_total'),
    refusals: refusals.map((v) => v.labels.reason),
    ztunnelErrors: log
      .split('\n')
      .filter((l) => /\t(error|warn)\t/.test(l))
      .slice(-5),
  };
  process.stdout.write(`PROBE ${JSON.stringify(out)}\n`);
  zt.kill('SIGKILL');
  s.destroy();
  z.close();
  await a.close();
  await b.close();
  pki.cleanup();
}

if (require.main === module) {
  main(process.argv[2]!).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`probe failed: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
