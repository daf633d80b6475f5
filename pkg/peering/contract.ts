import type protobuf from 'protobufjs';
import type { Registry } from 'prom-client';
import type { DaemonConfig } from '../config';
import type { Logger } from '../log';
import type { Clock } from '../lifecycle';
import type { Wire } from '../wire';
import type { RegistrySnapshot } from '../registry';
import type { LocalOutput, MeshContext } from '../translate';
import type { MessageMap } from '../push';
import type { CallerIdentity } from '../auth';
import type { PeerStatus } from './status';

// The contract between the daemon (which composes) and the peering layer (which implements it): declared here,
// beside its implementation, so pkg/peering never imports the composition root.

/** What the daemon gives the peering layer. */
export interface PeeringContext {
  cfg: DaemonConfig;
  logger: Logger;
  clock: Clock;
  metrics: Registry;
  wire: Wire;
  /** Latest registry snapshot (Gateways declare peers and the local east-west gateway). */
  snapshot: () => RegistrySnapshot;
  /** Subscribe to registry changes (to re-read peer declarations). */
  onRegistryChange: (cb: () => void) => () => void;
  /** The daemon's current serving identity (client cert for dialling peers) and trust bundle. */
  identity: () => { certChainPem: string; keyPem: string; trustBundlePem: string };
  /** Roots that may sign a peer's serving certificate, by the peer's trust domain (undefined: none configured). */
  rootsFor?: (trustDomain: string) => string | undefined;
  /** Ask the daemon for a push (peer data changed). */
  requestPush: () => void;
  /**
   * What local ztunnels hold: the cache seq committed so far, and the lowest
   * seq every connected ztunnel has ACKed its Address stream up to (undefined
   * while none is connected). Read by DataPlaneProgrammed.
   */
  dataPlane?: () => { seq: number; ackedSeq?: number; ztunnels: number };
  /** The cache seq committed so far (cheap; dataPlane() reads every stream). */
  committedSeq?: () => number;
}

/** Output of one peering build step, inside the daemon's push. Pure with respect to its input + the layer's partitions. */
export interface PeeringBuildResult {
  /** What local ztunnels see (local output merged with imported data). */
  addresses: MessageMap;
  authorizations: MessageMap;
  /** Resources served to peers, per type URL. */
  exports: ReadonlyMap<string, MessageMap>;
  /** Earliest origin time (wall-clock ms) of peer changes included since the last build. */
  originAt?: number;
  /**
   * True when `addresses` IS the local output unchanged (no peers, nothing
   * exported): the daemon can then encode only the generator's changed names.
   */
  passthrough?: boolean;
  /**
   * `addresses` is updated in place by later builds (no per-push copy): the
   * encoder must keep its own copy to compare against.
   */
  live?: boolean;
  /**
   * `addresses` differs from the previous build's only in these names (an
   * incremental merge: a bucket crossing touches one global service, not all
   * N x S entries). Absent: compare everything.
   */
  addressHint?: { changed: ReadonlySet<string>; removed: ReadonlySet<string> };
  /**
   * Address resources kept outside `addresses` (split-horizon workloads: one
   * per peer x global service, too many to keep as messages): the ones changed
   * by this step, each made by its thunk when encoded, and the names withdrawn.
   * Never in `addresses`.
   */
  extraAddresses?: { changed: ReadonlyMap<string, () => object>; removed: ReadonlySet<string> };
}

/** The peering layer as the daemon composes it. */
export interface PeeringLayer {
  /** Type URLs served to peers (push order) and their message types. */
  readonly exportTypes: ReadonlyMap<string, protobuf.Type>;
  /**
   * `full`: the previous build's output may not have reached the encoder (it
   * failed): merge from scratch, no hints.
   */
  build(input: { snapshot: RegistrySnapshot; mesh: MeshContext; local: LocalOutput; full?: boolean }): PeeringBuildResult;
  /** true/false to decide, undefined to defer to the default (ztunnel types allowed). */
  authorizeType(identity: CallerIdentity, typeUrl: string): boolean | undefined;
  /** Restored persisted peer state (gates /ready). */
  restored(): boolean;
  start(): Promise<void>;
  close(): Promise<void>;
  destroy(): void;
  /** Read-only view for /debug/peers and `ambientd check`. */
  status(): PeerStatus[];
  /** A local ztunnel ACKed a response (DataPlaneProgrammed may now hold). */
  onDataPlaneAck?(): void;
}

export type PeeringFactory = (ctx: PeeringContext) => PeeringLayer;
