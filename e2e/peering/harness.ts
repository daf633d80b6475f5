import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadWire, type Wire } from '../../pkg/wire';
import { createPeeringWith, PEERING_PROTO, type Peering, type PeeringTuning, type PeerStatus } from '../../pkg/peering';
import { findProtoDir } from '../../pkg/wire';
import { startDaemon, type DaemonFixture } from '../harness/daemon-fixture';
import type { ZtunnelClient } from '../harness/ztunnel-client';
import { waitFor } from '../../pkg/lifecycle';
import { createAdmin } from '../../pkg/admin';
import type { LooseJson } from '../harness/loose-json';

let wire: Wire | undefined;
export function peeringWire(): Wire {
  return (wire ??= loadWire({ extraFiles: [PEERING_PROTO] }));
}

/** One shared root and per-cluster intermediates from certs/Makefile (2048-bit keys: the test PKI only). */
export function makePki(clusters: string[]): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-peering-pki-'));
  const certsDir = path.join(path.dirname(findProtoDir()), 'certs');
  execFileSync(
    'make',
    [
      '-s',
      '-C',
      certsDir,
      `OUT=${dir}`,
      'ROOTCA_KEYSZ=2048',
      'INTERMEDIATE_KEYSZ=2048',
      ...clusters.map((c) => `${c}-cacerts`),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A leaf signed by a cluster intermediate with the given SANs (for fake peers). */
export function leafFrom(
  pkiDir: string,
  cluster: string,
  name: string,
  sans: string[],
): { certChainPem: string; keyPem: string } {
  const d = path.join(pkiDir, cluster);
  const key = path.join(d, `${name}-key.pem`);
  const csr = path.join(d, `${name}.csr`);
  const crt = path.join(d, `${name}-cert.pem`);
  const ext = path.join(d, `${name}.ext`);
  const run = (args: string[]): void => void execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  run(['req', '-new', '-key', key, '-subj', '/O=ambientd-test', '-out', csr]);
  fs.writeFileSync(
    ext,
    `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n` +
      `extendedKeyUsage=serverAuth,clientAuth\n` +
      `subjectAltName=${sans.join(',')}\n`,
  );
  run([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    path.join(d, 'ca-cert.pem'),
    '-CAkey',
    path.join(d, 'ca-key.pem'),
    '-set_serial',
    String(Date.now()),
    '-days',
    '1',
    '-sha256',
    '-extfile',
    ext,
    '-out',
    crt,
  ]);
  return {
    certChainPem: fs.readFileSync(crt, 'utf8') + fs.readFileSync(path.join(d, 'ca-cert.pem'), 'utf8'),
    keyPem: fs.readFileSync(key, 'utf8'),
  };
}

export interface ClusterOptions {
  name: string;
  network: string;
  /** PKI dir (shared root); undefined = the daemon's own self-signed root. */
  pki?: string;
  flags?: Record<string, string>;
  files?: Record<string, string>;
  stateDir?: string;
  registryDir?: string;
  /** Serve the admin endpoints (metrics, /debug/*) on ephemeral loopback ports. */
  admin?: boolean;
  /** Peering test knobs on top of the harness's fast backoff. */
  tuning?: PeeringTuning;
}

export interface Cluster extends DaemonFixture {
  name: string;
  port: number;
  peering: Peering;
  peer(cluster: string): PeerStatus | undefined;
  cond(cluster: string, type: string): string | undefined;
}

export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const f = await startDaemon({
    flags: {
      'cluster-id': o.name,
      network: o.network,
      'ca-root-key-type': 'ec',
      ...(o.pki ? { 'ca-dir': path.join(o.pki, o.name) } : {}),
      ...o.flags,
    },
    files: { 'system.yaml': ns('istio-system'), ...o.files },
    stateDir: o.stateDir,
    registryDir: o.registryDir,
    deps: {
      wire: peeringWire(),
      peering: createPeeringWith({ backoff: { initialMs: 50, maxMs: 500 }, saveDelayMs: 20, ...o.tuning }),
      ...(o.admin ? { admin: createAdmin } : {}),
    },
  });
  const peering = f.daemon.peering as Peering;
  const c: Cluster = Object.assign(f, {
    name: o.name,
    port: f.daemon.grpcPort,
    peering,
    peer: (cluster: string) => peering.status().find((s) => s.cluster === cluster && s.mode !== undefined),
    cond: (cluster: string, type: string) => c.peer(cluster)?.conditions.find((x) => x.type === type)?.status,
  });
  return c;
}

export function ns(name: string, labels: Record<string, string> = {}): string {
  return `apiVersion: v1
kind: Namespace
metadata: { name: ${name}, labels: ${JSON.stringify({ 'istio.io/dataplane-mode': 'ambient', ...labels })} }
`;
}

export function service(
  name: string,
  namespace: string,
  o: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    clusterIP?: string;
    port?: number;
    targetPort?: number;
  } = {},
): string {
  return (
    `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${namespace}, labels: ${JSON.stringify(o.labels ?? {})}, ` +
    `annotations: ${JSON.stringify(o.annotations ?? {})} }
spec:
  clusterIP: ${o.clusterIP ?? '10.96.0.10'}
  selector: { app: ${name} }
  ports: [{ name: http, port: ${o.port ?? 80}, targetPort: ${o.targetPort ?? 8080} }]
`
  );
}

/** n ready pods app=<app>, IPs base.x.y (base like "10.1"). */
export function pods(
  app: string,
  namespace: string,
  n: number,
  base: string,
  o: { sa?: string; ready?: boolean; prefix?: string } = {},
): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const ip = `${base}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    out.push(
      `apiVersion: v1
kind: Pod
metadata: { name: ${o.prefix ?? app}-${i}, namespace: ${namespace}, labels: { app: ${app} } }
spec: { serviceAccountName: ${o.sa ?? app}, containers: [{ name: c, ports: [{ containerPort: 8080 }] }] }
status: { phase: Running, podIP: ${ip}, ` +
        `conditions: [{ type: Ready, status: "${o.ready === false ? 'False' : 'True'}" }] }
`,
    );
  }
  return out.join('---\n');
}

export function eastWest(o: {
  network: string;
  cluster: string;
  address?: string;
  annotations?: Record<string, string>;
}): string {
  return (
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: istio-eastwest
  namespace: istio-gateways
  labels: { topology.istio.io/network: ${o.network}, topology.istio.io/cluster: ${o.cluster}, ` +
    `istio.io/expose-istiod: "15012" }
  annotations: ${JSON.stringify(o.annotations ?? {})}
spec:
  gatewayClassName: istio-eastwest
  addresses: [{ type: IPAddress, value: ${o.address ?? '127.0.0.1'} }]
  listeners:
  - { name: cross-network, port: 15008, protocol: HBONE, tls: { mode: Passthrough } }
  - { name: xds-tls, port: 15012, protocol: TLS, tls: { mode: Passthrough } }
`
  );
}

/** istio-remote Gateway pointing at a peer daemon on 127.0.0.1:<port>. */
export function remote(o: {
  cluster: string;
  network: string;
  port: number;
  address?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  name?: string;
  hbone?: number;
}): string {
  const labels = { 'topology.istio.io/network': o.network, 'topology.istio.io/cluster': o.cluster, ...o.labels };
  return `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: ${o.name ?? `istio-remote-peer-${o.cluster}`}
  namespace: istio-gateways
  labels: ${JSON.stringify(labels)}
  annotations: ${JSON.stringify({ 'gateway.istio.io/service-account': 'istio-eastwest', ...o.annotations })}
spec:
  gatewayClassName: istio-remote
  addresses: [{ type: IPAddress, value: ${o.address ?? '127.0.0.1'} }]
  listeners:
  - { name: cross-network, port: ${o.hbone ?? 15008}, protocol: HBONE, tls: { mode: Passthrough } }
  - { name: xds-tls, port: ${o.port}, protocol: TLS, tls: { mode: Passthrough } }
`;
}

export function held(z: ZtunnelClient, name: string): LooseJson | undefined {
  return z.held('type.googleapis.com/istio.workload.Address').get(name)?.value;
}

export async function until<T>(what: string, cond: () => T, timeoutMs = 15_000): Promise<T> {
  return waitFor(cond, { timeoutMs, what, intervalMs: 10 });
}

/** Stands in for one east-west gateway's HBONE listener (15008): accepts and closes. Restartable on its port. */
export class FakeGateway {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  async start(): Promise<void> {
    this.server = net.createServer((s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s)).on('error', () => undefined);
      s.end();
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
    this.server = undefined;
  }
}
