import type * as push from '../../pkg/push';
import type { AddressMsg } from '../../pkg/translate';
import type * as wire from '../../pkg/wire';
import type { Wire } from '../../pkg/wire';
import type * as xds from '../../pkg/xds';
import type { CacheEntry, XdsStream } from '../../pkg/xds';

/**
 * The modules the istiod scenario's serve loops are made of, from one build: bench/sim/istiod-equiv.ts passes its
 * own imports, bench/serve-one-ab.ts those of this build and of another build's dist tree.
 */
export interface ServeModules {
  push: Pick<typeof push, 'Encoder' | 'fullDelta'>;
  wire: Pick<typeof wire, 'decodeDeltaRequest' | 'TYPE_ADDRESS'>;
  xds: Pick<typeof xds, 'ResourceCache' | 'XdsStream'>;
}

/** What the serve loops share: a cache holding every Address, a wildcard request, and the change to serve. */
export interface ServeSetup {
  cache: xds.ResourceCache;
  /** A new wildcard ztunnel's first request (Address, resource_names_subscribe ["*"]). */
  initial: wire.DeltaRequest;
  /** A stream of this cache into the caller's sink. */
  streamOf: (id: string) => XdsStream;
  /** The changed workload's resource name, and its two encodings (service account changed, original). */
  name: string;
  variants: readonly [CacheEntry, CacheEntry];
}

/**
 * The cache committed with `upserts` (every Address, encoded), and the serve-one change: workload random-0 with its
 * service account changed, and as it was, each encoded alone, to be committed alternately.
 */
export function serveSetup(
  b: ServeModules,
  o: {
    wire: Wire;
    addresses: ReadonlyMap<string, AddressMsg>;
    upserts: readonly CacheEntry[];
    /** The streams' options but their id, cache and types (sink, logger, clock, metrics). */
    stream: Omit<ConstructorParameters<typeof xds.XdsStream>[0], 'id' | 'cache' | 'typeOrder'>;
  },
): ServeSetup {
  const TYPE = b.wire.TYPE_ADDRESS;
  const types = new Map([[TYPE, o.wire.Address]]);
  const cache = new b.xds.ResourceCache({});
  cache.commit([{ typeUrl: TYPE, upserts: o.upserts }]);
  const REQ = o.wire.DeltaDiscoveryRequest;
  const initial = b.wire.decodeDeltaRequest(
    REQ,
    Buffer.from(
      REQ.encode(
        REQ.fromObject({
          node: { id: 'ztunnel~10.0.0.9~ztunnel-x.istio-system~istio-system.svc.cluster.local' },
          typeUrl: TYPE,
          resourceNamesSubscribe: ['*'],
        }),
      ).finish(),
    ),
  );
  const found = [...o.addresses.keys()].find((k) => k.endsWith('/random-0'));
  const orig = found ? o.addresses.get(found) : undefined;
  if (!found || !orig || !('workload' in orig) || !orig.workload) throw new Error('workload random-0 not generated');
  const name = found;
  const changed = { workload: { ...orig.workload, serviceAccount: 'random-changed' } };
  const encodeOne = (m: AddressMsg): CacheEntry =>
    new b.push.Encoder(o.wire, types).encode(b.push.fullDelta(TYPE, new Map([[name, m]]))).upserts![0]!;
  return {
    cache,
    initial,
    streamOf: (id) => new b.xds.XdsStream({ ...o.stream, id, cache, typeOrder: [TYPE] }),
    name,
    variants: [encodeOne(changed), encodeOne(orig)],
  };
}
