import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { Registry } from 'prom-client';
import { loadEastwestConfig } from '../../pkg/config';
import { EastWestGateway } from '../../pkg/eastwest';
import { createSilentLogger, type Logger } from '../../pkg/log';
import { uriSans } from '../../pkg/peering';
import { createCsr, createSigner, generateKeyPair, privateKeyToPem } from '../../pkg/x509';
import { waitFor } from '../../pkg/lifecycle';
import type { DaemonFixture } from '../harness/daemon-fixture';
import { ns, pods, service, startCluster } from '../peering/harness';
import { runBase } from './loopback-slice';

/**
 * An east-west gateway against a real in-process daemon, and the parts a test
 * needs around it: "destination ztunnel" stand-ins (TCP servers on
 * <pod-ip>:15008, loopback addresses unique to this run), workload identities
 * from the daemon's CA, and an HBONE client (TLS 1.3 + HTTP/2 CONNECT).
 */
export const NETWORK = 'net-b';
export const CLUSTER = 'cb';
export const GLOBAL_HOST = 'echo.demo.mesh.internal';
export const LOCAL_HOST = 'echo.demo.svc.cluster.local';

/**
 * echo: writes back what arrives, ends after the caller's FIN; manual: the test drives the socket (last());
 * discard: counts what arrives (bytesIn) and keeps nothing, ends after the caller's FIN (bench).
 */
export type DestBehaviour = 'echo' | 'manual' | 'reset' | 'discard';

/** A TCP server standing in for the destination ztunnel's :15008: records what arrives. */
export class DestStandIn {
  server?: net.Server;
  readonly received: Buffer[] = [];
  readonly connections: net.Socket[] = [];
  accepted = 0;
  finsSeen = 0;
  bytesIn = 0;

  constructor(
    readonly ip: string,
    public behaviour: DestBehaviour = 'echo',
  ) {}

  private accept(s: net.Socket): void {
    this.accepted++;
    this.connections.push(s);
    s.on('error', () => undefined);
    if (this.behaviour === 'reset') {
      s.once('data', () => s.resetAndDestroy());
      return;
    }
    const echo = this.behaviour === 'echo';
    const keep = this.behaviour !== 'discard';
    s.on('data', (d: Buffer) => {
      this.bytesIn += d.length;
      if (keep) this.received.push(d);
      if (echo) s.write(d);
    });
    s.on('end', () => {
      this.finsSeen++;
      if (echo || !keep) s.end();
    });
  }

  /** Listens on <ip>:15008 (again, after down()). */
  async listen(port = 15008): Promise<void> {
    const server = net.createServer({ allowHalfOpen: true }, (s) => this.accept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.ip, () => resolve());
    });
  }

  /** Stops accepting (connects are refused); open connections stay. */
  down(): void {
    this.server?.close();
    this.server = undefined;
  }

  /** The newest accepted connection. */
  last(): net.Socket | undefined {
    return this.connections[this.connections.length - 1];
  }

  bytes(): number {
    return this.received.reduce((n, b) => n + b.length, 0);
  }

  close(): void {
    for (const c of this.connections) c.destroy();
    this.down();
  }
}

export interface WorkloadCert {
  certChainPem: string;
  keyPem: string;
  rootsPem: string;
}

export interface GatewayFixture {
  daemon: DaemonFixture;
  gateway: EastWestGateway;
  registry: Registry;
  base: string;
  dests: DestStandIn[];
  hbonePort: number;
  gatewaySpiffe: string;
  /** A certificate of ns/sa signed by the daemon's CA. */
  workloadCert(ns: string, sa: string): Promise<WorkloadCert>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

export interface GatewayFixtureOptions {
  pods?: number;
  /** 127.<a> slice for pod IPs (default runBase()). */
  base?: string;
  /** Port of the pod stand-ins and the gateway's dials (default 15008; another where a real ztunnel holds 15008). */
  destPort?: number;
  /** Shared-root PKI dir (makePki) with a cluster named CLUSTER; default: the daemon's own root. */
  pki?: string;
  /** ns/sa of the gateway (default istio-system/istio-eastwest). */
  identity?: string;
  flags?: Record<string, string>;
  trustBundles?: Record<string, string>;
  logger?: Logger;
  /** Extra registry files. */
  files?: Record<string, string>;
}

export interface MeshFixture {
  daemon: DaemonFixture;
  base: string;
  dests: DestStandIn[];
  /** Settings (flag form) for a gateway of this cluster: ephemeral ports on 127.0.0.1. */
  gatewayFlags: Record<string, string>;
  gatewaySpiffe: string;
  close(): Promise<void>;
}

/** The daemon of cluster CLUSTER (network NETWORK) exporting echo.demo, with pod stand-ins; no gateway yet. */
export async function startMesh(o: GatewayFixtureOptions = {}): Promise<MeshFixture> {
  const base = o.base ?? runBase();
  const n = o.pods ?? 2;
  const [idNs, idSa] = (o.identity ?? 'istio-system/istio-eastwest').split('/') as [string, string];
  const daemon = await startCluster({
    name: CLUSTER,
    network: NETWORK,
    ...(o.pki ? { pki: o.pki } : {}),
    files: {
      'demo.yaml': [
        ns('demo'),
        service('echo', 'demo', { labels: { 'solo.io/service-scope': 'global' }, clusterIP: '10.96.0.20', port: 80 }),
        service('local', 'demo', { clusterIP: '10.96.0.21', port: 80 }),
        pods('echo', 'demo', n, base),
        pods('local', 'demo', 1, base).replace(/podIP: \S+/, `podIP: ${base}.9.1`),
      ].join('---\n'),
      ...o.files,
    },
  });
  const dests: DestStandIn[] = [];
  for (let i = 0; i < n; i++) {
    const d = new DestStandIn(`${base}.0.${i + 1}`);
    await d.listen(o.destPort);
    dests.push(d);
  }
  const dir = daemon.dir;
  const rootFile = path.join(dir, 'root-cert.pem');
  fs.writeFileSync(rootFile, daemon.daemon.authority.rootBundlePem());
  const tokenFile = path.join(dir, 'eastwest-token');
  fs.writeFileSync(tokenFile, daemon.token(idNs, idSa));
  const gatewayFlags: Record<string, string> = {
    'cluster-id': CLUSTER,
    network: NETWORK,
    listen: '127.0.0.1:0',
    'admin-listen': '127.0.0.1:0',
    'admin-debug-listen': '127.0.0.1:0',
    identity: `${idNs}/${idSa}`,
    'xds-address': `127.0.0.1:${daemon.daemon.grpcPort}`,
    'xds-root-ca': rootFile,
    'xds-auth-token': tokenFile,
    ...(o.trustBundles
      ? {
          'trust-bundles': Object.entries(o.trustBundles)
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
        }
      : {}),
    ...o.flags,
  };
  return {
    daemon,
    base,
    dests,
    gatewayFlags,
    gatewaySpiffe: `spiffe://cluster.local/ns/${idNs}/sa/${idSa}`,
    async close() {
      for (const d of dests) d.close();
      await daemon.close();
    },
  };
}

export async function startGatewayFixture(o: GatewayFixtureOptions = {}): Promise<GatewayFixture> {
  const mesh = await startMesh(o);
  const { daemon, base, dests } = mesh;
  const cfg = loadEastwestConfig({ flags: mesh.gatewayFlags });
  const registry = new Registry();
  const gateway = new EastWestGateway(cfg, {
    logger: o.logger ?? createSilentLogger(),
    metrics: registry,
    ...(o.destPort ? { destinationPort: o.destPort } : {}),
  });
  await gateway.start();
  await gateway.whenReady(20_000);
  const f: GatewayFixture = {
    daemon,
    gateway,
    registry,
    base,
    dests,
    hbonePort: gateway.ports!.hbone[0]!,
    gatewaySpiffe: mesh.gatewaySpiffe,
    workloadCert: (wns, sa) => workloadCert(daemon, wns, sa),
    async metric(name, labels = {}) {
      const m = await registry.getSingleMetric(name)?.get();
      const v = m?.values.find((x) => Object.entries(labels).every(([k, lv]) => String(x.labels[k]) === lv));
      return v?.value ?? 0;
    },
    async close() {
      gateway.destroy();
      await mesh.close();
    },
  };
  return f;
}

/** A workload certificate from a daemon's CA, laid out as ztunnel reads the CA response. */
export async function workloadCert(
  d: DaemonFixture,
  wns: string,
  sa: string,
  td = 'cluster.local',
): Promise<WorkloadCert> {
  const { privateKey, publicKey } = generateKeyPair('ec-p256');
  const id = `spiffe://${td}/ns/${wns}/sa/${sa}`;
  const csrPem = createCsr({ publicKey, signer: createSigner(privateKey), uris: [id] });
  const chain = (await d.daemon.authority.sign({ csrPem, identity: id, ttlSeconds: 3600 })).certChain;
  return {
    certChainPem: chain.slice(0, -1).join(''),
    keyPem: privateKeyToPem(privateKey),
    rootsPem: chain[chain.length - 1]!,
  };
}

export interface Connected {
  status: number;
  stream: http2.ClientHttp2Stream;
}

export interface HboneClient {
  session: http2.ClientHttp2Session;
  /** The gateway's URI SANs as presented. */
  serverSans: string[];
  connect(authority: string, headers?: Record<string, string>): Promise<Connected>;
  close(): void;
}

/** The outer half of double HBONE as ztunnel does it (docs/design/hbone.md): mTLS, no SNI, h2, CONNECT. */
export async function hboneClient(
  port: number,
  id: WorkloadCert | undefined,
  expectSan?: string,
  host = '127.0.0.1',
): Promise<HboneClient> {
  let serverSans: string[] = [];
  let socket: tls.TLSSocket | undefined;
  const session = http2.connect(`https://${host}:${port}`, {
    settings: { enablePush: false, initialWindowSize: 4 * 1024 * 1024 },
    createConnection: () =>
      (socket = tls.connect({
        host,
        port,
        ALPNProtocols: ['h2'],
        minVersion: 'TLSv1.3',
        ca: id?.rootsPem,
        rejectUnauthorized: id !== undefined,
        ...(id?.certChainPem ? { cert: id.certChainPem, key: id.keyPem } : {}),
        checkServerIdentity: (_h, cert) => {
          serverSans = uriSans(cert);
          if (!expectSan || serverSans.includes(expectSan)) return undefined;
          return new Error(`want ${expectSan}, got ${serverSans.join(',')}`);
        },
      })),
  });
  session.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    // The gateway's SETTINGS have arrived (the 'connect' event comes before them).
    session.once('remoteSettings', () => resolve());
    session.once('error', reject);
    session.once('close', () => reject(new Error('session closed before connect')));
    // A refused handshake can destroy the session without a session event (node 20); the socket tells.
    socket?.once('close', () => reject(new Error('connection closed before SETTINGS')));
    socket?.once('error', reject);
  }).catch((e: unknown) => {
    socket?.destroy();
    session.destroy();
    throw e;
  });
  return {
    session,
    get serverSans() {
      return serverSans;
    },
    connect(authority, headers = {}) {
      const req = { ':method': 'CONNECT', ':authority': authority, ...headers };
      const stream = session.request(req, { endStream: false });
      stream.on('error', () => undefined);
      return new Promise((resolve, reject) => {
        stream.once('response', (h) => resolve({ status: Number(h[':status']), stream }));
        stream.once('close', () => reject(new Error(`stream closed before a response (rst ${stream.rstCode})`)));
      });
    },
    close() {
      session.destroy();
    },
  };
}

/** Reads a stream to its end (bounded). */
export async function readAll(s: NodeJS.ReadableStream, timeoutMs = 20_000): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  await waitFor(() => (s as unknown as { readableEnded: boolean }).readableEnded, { timeoutMs, what: 'end of stream' });
  return Buffer.concat(chunks);
}
