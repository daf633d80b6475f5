import { Registry } from 'prom-client';
import { ResourceCache, XdsServer, createXdsMetrics, entryFromBytes } from '../../pkg/xds';
import { GrpcServer, RotatingServerCredentials } from '../../pkg/transport';
import { createSilentLogger } from '../../pkg/log';
import { systemClock } from '../../pkg/lifecycle';
import { PEERING_TYPES, peeringTypes } from '../../pkg/peering';
import { peeringWire } from './harness';

/** A hand-driven peer: serves whatever peering resources a test commits (valid or not). */
export interface FakePeer {
  port: number;
  cache: ResourceCache;
  nacks: { typeUrl: string; message: string }[];
  put(typeUrl: string, resources: Record<string, Record<string, unknown>>): void;
  close(): Promise<void>;
}

export async function startFakePeer(material: {
  certChainPem: string;
  keyPem: string;
  trustBundlePem: string;
}): Promise<FakePeer> {
  const wire = peeringWire();
  const types = peeringTypes(wire);
  const cache = new ResourceCache({});
  const logger = createSilentLogger();
  const nacks: { typeUrl: string; message: string }[] = [];
  const xds = new XdsServer({
    wire,
    cache,
    logger,
    clock: systemClock,
    metrics: createXdsMetrics(new Registry()),
    typeOrder: PEERING_TYPES,
    authenticate: async () => ({ method: 'test' }),
  });
  // Observe NACKs the way a server sees them: requests carrying error_detail.
  const svc = xds.service();
  const impl = svc.implementation['DeltaAggregatedResources'] as (call: {
    on: (ev: string, cb: (b: Buffer) => void) => void;
  }) => void;
  svc.implementation['DeltaAggregatedResources'] = ((call: { on: (ev: string, cb: (b: Buffer) => void) => void }) => {
    call.on('data', (b: Buffer) => {
      const r = wire.DeltaDiscoveryRequest.decode(b) as unknown as {
        typeUrl: string;
        errorDetail?: { message: string };
      };
      if (r.errorDetail) nacks.push({ typeUrl: r.typeUrl, message: r.errorDetail.message });
    });
    impl(call);
  }) as never;
  const grpc = new GrpcServer({
    listen: '127.0.0.1:0',
    logger,
    maxReceiveBytes: 4 << 20,
    maxSessionMemoryMb: 64,
    credentials: new RotatingServerCredentials(material),
  });
  grpc.addService(svc);
  const port = await grpc.start();
  return {
    port,
    cache,
    nacks,
    put(typeUrl, resources) {
      const t = types.get(typeUrl)!;
      const upserts = Object.entries(resources).map(([name, o]) =>
        entryFromBytes(typeUrl, name, t.encode(t.fromObject(o)).finish()),
      );
      cache.commit([{ typeUrl, upserts, removes: [] }], { at: performance.now() });
    },
    async close() {
      await xds.close();
      grpc.destroy();
    },
  };
}
