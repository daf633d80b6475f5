import { Registry } from 'prom-client';
import { loadWire, TYPE_ADDRESS, TYPE_AUTHORIZATION, type Wire } from '../../pkg/wire';
import {
  ResourceCache,
  XdsServer,
  createXdsMetrics,
  entryFromBytes,
  type CacheEntry,
  type XdsServerOptions,
} from '../../pkg/xds';
import { GrpcServer, RotatingServerCredentials } from '../../pkg/transport';
import { createSilentLogger } from '../../pkg/log';
import { systemClock } from '../../pkg/lifecycle';
import { DaemonError, GrpcCode } from '../../pkg/errors';
import { createTestPki, type TestPki } from './pki';
import { ZtunnelClient, type ZtunnelClientOptions } from './ztunnel-client';

let sharedWire: Wire | undefined;
export function testWire(): Wire {
  return (sharedWire ??= loadWire());
}

/** A bare xDS server (cache + engine + TLS gRPC) on 127.0.0.1:0 for protocol conformance tests. */
export interface XdsFixture {
  wire: Wire;
  pki: TestPki;
  cache: ResourceCache;
  xds: XdsServer;
  grpc: GrpcServer;
  port: number;
  metrics: Registry;
  client(opts?: Partial<ZtunnelClientOptions>): ZtunnelClient;
  workload(uid: string, ip: string, extra?: Record<string, unknown>): CacheEntry;
  service(ns: string, host: string, vip: string): CacheEntry;
  policy(ns: string, name: string): CacheEntry;
  close(): Promise<void>;
}

export async function startXdsFixture(
  opts: Partial<XdsServerOptions> & { maxTombstones?: number; maxReceiveBytes?: number; token?: string } = {},
): Promise<XdsFixture> {
  const wire = testWire();
  const pki = createTestPki();
  const leaf = pki.leaf('server', ['DNS:localhost', 'IP:127.0.0.1']);
  const cache = new ResourceCache({ maxTombstones: opts.maxTombstones });
  const metrics = new Registry();
  const logger = createSilentLogger();
  const xds = new XdsServer({
    wire,
    cache,
    logger,
    clock: systemClock,
    metrics: createXdsMetrics(metrics),
    typeOrder: [TYPE_ADDRESS, TYPE_AUTHORIZATION],
    authenticate: async (ctx) => {
      if (!opts.token) return { method: 'insecure' };
      const h = ctx.metadata['authorization']?.[0];
      if (h !== `Bearer ${opts.token}`)
        throw new DaemonError(
          'auth.bad_signature',
          GrpcCode.UNAUTHENTICATED,
          'token mismatch',
          'authentication failed',
        );
      return { method: 'test' };
    },
    ...opts,
  });
  const grpc = new GrpcServer({
    listen: '127.0.0.1:0',
    logger,
    maxReceiveBytes: opts.maxReceiveBytes ?? 4 * 1024 * 1024,
    maxSessionMemoryMb: 64,
    credentials: new RotatingServerCredentials({
      certChainPem: leaf.certPem,
      keyPem: leaf.keyPem,
      trustBundlePem: pki.rootCertPem,
    }),
  });
  grpc.addService(xds.service());
  const port = await grpc.start();
  const clients: ZtunnelClient[] = [];
  const enc = (t: typeof wire.Address, o: Record<string, unknown>): Uint8Array => t.encode(t.fromObject(o)).finish();
  return {
    wire,
    pki,
    cache,
    xds,
    grpc,
    port,
    metrics,
    client(co = {}) {
      const c = new ZtunnelClient({
        wire,
        address: `127.0.0.1:${port}`,
        rootCaPem: pki.rootCertPem,
        serverName: 'localhost',
        token: opts.token,
        ...co,
      });
      clients.push(c);
      return c;
    },
    workload(uid, ip, extra = {}) {
      const addr = Buffer.from(ip.split('.').map(Number));
      return entryFromBytes(
        TYPE_ADDRESS,
        uid,
        enc(wire.Address, {
          workload: { uid, name: uid.split('/').pop(), namespace: 'default', addresses: [addr], ...extra },
        }),
        [`/${ip}`],
      );
    },
    service(ns, host, vip) {
      const addr = Buffer.from(vip.split('.').map(Number));
      return entryFromBytes(
        TYPE_ADDRESS,
        `${ns}/${host}`,
        enc(wire.Address, {
          service: {
            name: host.split('.')[0],
            namespace: ns,
            hostname: host,
            addresses: [{ network: '', address: addr }],
          },
        }),
        [`/${vip}`],
      );
    },
    policy(ns, name) {
      return entryFromBytes(
        TYPE_AUTHORIZATION,
        `${ns}/${name}`,
        enc(wire.Authorization, { name, namespace: ns, scope: 1, action: 0, rules: [] }),
      );
    },
    async close() {
      for (const c of clients) c.close();
      await xds.close();
      grpc.destroy();
      pki.cleanup();
    },
  };
}
