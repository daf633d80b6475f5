import type protobuf from 'protobufjs';
import type { Logger } from '../log';
import type { PeeringContext } from './contract';
import { type Admission, PeerClient, type SecureContexts } from './link';
import type { PeerPartition, PeerStateWriter, StringPool } from './state';
import type { PeeringMetrics } from './metrics';
import type { StatusPeer } from './status-book';
import type { PeeringTuning } from './tuning';

/** One declared peer as the Peering layer holds it: its link, partition and status inputs. */
export interface Peer extends StatusPeer {
  types: string[];
  key: string;
}

/** What a peer's client reads from the Peering layer that owns it (shared by every peer). */
export interface PeerClientDeps {
  ctx: PeeringContext;
  tuning: PeeringTuning;
  metrics: PeeringMetrics;
  log: Logger;
  exportTypes: ReadonlyMap<string, protobuf.Type>;
  identityNs: string;
  contexts: SecureContexts;
  pool: StringPool;
  admission: Admission;
  writer: PeerStateWriter;
  /** Stamps the peer's status conditions (Peering.observe). */
  observe: (p: Peer) => void;
}

/**
 * The PeerClient of one peer with its callbacks: metrics, push requests, persistence and status.
 * `self` returns the peer the client ends up in (the callbacks read it; none runs before start()).
 */
export function newPeerClient(d: PeerClientDeps, peer: Omit<Peer, 'client'>, self: () => Peer): PeerClient {
  const cluster = peer.decl.cluster;
  const m = d.metrics;
  return new PeerClient({
    decl: peer.decl,
    partition: peer.partition,
    types: peer.types,
    decoders: d.exportTypes,
    wire: d.ctx.wire,
    localCluster: d.ctx.cfg.clusterId,
    identityNamespace: d.identityNs,
    identity: () => d.ctx.identity(),
    // The mesh trust bundle holds every root we accept (plug-in cacerts root-cert.pem or our own root).
    // Only the roots of the peer's own trust domain (a declaration without roots is never dialled;
    // the mesh bundle stays the fallback so an empty CA list can never mean Node's public roots).
    rootsFor: (td) => d.ctx.rootsFor?.(td) ?? d.ctx.identity().trustBundlePem,
    contexts: d.contexts,
    pool: d.pool,
    admission: d.admission,
    logger: d.log,
    clock: d.ctx.clock,
    backoff: d.tuning.backoff,
    onChange: () => {
      updateResourceMetrics(m, peer);
      d.ctx.requestPush();
      if (self().client.state.synced) d.writer.schedule();
    },
    onSynced: () => {
      peer.programming.syncs++;
      m.synced.set({ peer: cluster }, 1);
      m.lastSync.set({ peer: cluster }, d.ctx.clock.now() / 1000);
      d.log.info(
        { peer: cluster, services: peer.partition.services.size, workloads: peer.partition.workloads.size },
        `peer ${cluster} synced (${peer.partition.services.size} services)`,
      );
      // Persisted in the background, coalesced with every other peer synced meanwhile: a
      // synchronous write + fsync per peer stalled the loop ~19 s at N = 2,000 (mesh bench).
      d.writer.schedule();
      updateResourceMetrics(m, peer);
      d.ctx.requestPush();
      d.observe(self());
    },
    onStateChange: () => {
      const { state } = self().client;
      m.connected.set({ peer: cluster }, state.connected ? 1 : 0);
      if (!state.synced) m.synced.set({ peer: cluster }, 0);
      d.observe(self());
    },
    onTermination: (reason) => m.terminations.inc({ peer: cluster, reason }),
    onResyncAge: (ms) => m.resyncAge.observe(ms / 1000),
  });
}

function updateResourceMetrics(metrics: PeeringMetrics, peer: { partition: PeerPartition }): void {
  const p = peer.partition;
  const r = metrics.resources;
  r.set({ peer: p.cluster, type: 'ClusterInfo' }, p.clusterInfo ? 1 : 0);
  r.set({ peer: p.cluster, type: 'FederatedService' }, p.services.size);
  r.set({ peer: p.cluster, type: 'PeerWorkload' }, p.workloads.size);
  r.set({ peer: p.cluster, type: 'PeerNode' }, p.nodes.size);
}
