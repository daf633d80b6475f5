import type protobuf from 'protobufjs';
import type { Registry } from 'prom-client';
import type { DaemonConfig } from '../config';
import type { Logger } from '../log';
import type { Clock } from '../lifecycle';
import type { Wire } from '../wire';
import type { RegistrySnapshot } from '../registry';
import type { Kind } from '../model';
import type { LocalGeneration, MeshContext } from '../translate';
import type { Generation } from '../push';
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
  /** Subscribe to registry changes (to re-read peer declarations); the callback gets the kinds that changed. */
  onRegistryChange: (cb: (kinds: Iterable<Kind>) => void) => () => void;
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

/**
 * Output of one peering build, inside the daemon's push: the Address and Authorization deltas local ztunnels
 * get (the local deltas merged with imported data; with no peers and nothing exported, the local deltas
 * themselves), then one delta per type served to peers (exportTypes' order). Every delta says what changed
 * since the layer's own previous output (ResourceDelta's contract, pkg/push).
 */
export type PeeringBuildResult = Generation;

export interface PeeringBuildInput {
  snapshot: RegistrySnapshot;
  mesh: MeshContext;
  /** This build's local translation: its output (merged with peers' data) and its deltas. */
  local: LocalGeneration;
  full: boolean;
}

/** The peering layer as the daemon composes it. */
export interface PeeringLayer {
  /** Type URLs served to peers (push order) and their message types. */
  readonly exportTypes: ReadonlyMap<string, protobuf.Type>;
  /**
   * `full`: the previous build may not have reached the cache (it threw), or the mesh context changed: merge
   * from scratch and return full deltas (ResourceDelta's contract).
   */
  build(input: PeeringBuildInput): PeeringBuildResult;
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
