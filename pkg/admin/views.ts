import type protobuf from 'protobufjs';
import type { Registry } from 'prom-client';
import type { DaemonConfig } from '../config';

/**
 * Read-only views the admin surface needs, declared by the consumer (as Go
 * code declares interfaces where they are used): the Daemon satisfies them
 * structurally, so admin never imports daemon, xds, registry or ca internals
 * and can never call a mutating method by accident.
 */

export interface RejectionView {
  readonly kind: string;
  readonly key: string;
  readonly origin?: string;
  readonly reason: string;
}

export interface RegistrySnapshotView {
  readonly version: number;
  readonly namespaces: ReadonlyMap<string, unknown>;
  readonly services: ReadonlyMap<string, unknown>;
  readonly pods: ReadonlyMap<string, unknown>;
  readonly workloadEntries: ReadonlyMap<string, unknown>;
  readonly nodes: ReadonlyMap<string, unknown>;
  readonly authorizationPolicies: ReadonlyMap<string, unknown>;
  readonly peerAuthentications: ReadonlyMap<string, unknown>;
  readonly gateways: ReadonlyMap<string, unknown>;
  readonly rejected: readonly RejectionView[];
}

export interface RegistryView {
  snapshot(): RegistrySnapshotView;
}

export interface TypeStatusView {
  readonly typeUrl: string;
  readonly wildcard: boolean;
  readonly explicitNames: number;
  readonly lastNonceSent: string;
  readonly lastNonceAcked: string;
  readonly lastSentAt?: number;
  readonly lastAckedAt?: number;
  readonly lastNack?: { readonly nonce: string; readonly message: string; readonly at: number };
  readonly responses: number;
  readonly acks: number;
  readonly nacks: number;
  readonly sentSeq: number;
}

export interface StreamStatusView {
  readonly id: string;
  readonly nodeId: string;
  readonly node?: {
    readonly id: string;
    readonly cluster: string;
    readonly metadata: Readonly<Record<string, unknown>>;
  };
  readonly identity?: unknown;
  readonly connectedAt: number;
  readonly pendingWrite: boolean;
  readonly pendingCommits: number;
  readonly types: readonly TypeStatusView[];
}

export interface XdsView {
  status(): readonly StreamStatusView[];
}

export interface CacheEntryView {
  readonly name: string;
  readonly version: string;
  /** A DeltaDiscoveryResponse field-2 frame holding one encoded Resource. */
  readonly frame: Uint8Array;
}

export interface CacheView {
  readonly seq: number;
  entries(typeUrl: string): Iterable<CacheEntryView>;
}

export interface WireView {
  readonly Address: protobuf.Type;
  readonly Authorization: protobuf.Type;
  readonly DeltaDiscoveryResponse: protobuf.Type;
}

export interface CertSummaryView {
  readonly subject: string;
  readonly serialHex: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly fingerprint256: string;
}

export interface AuthorityInfoView {
  readonly mode: string;
  readonly source: string;
  readonly trustDomain: string;
  readonly signingKey: string;
  readonly signingCert: CertSummaryView;
  readonly roots: readonly CertSummaryView[];
  readonly intermediates: readonly CertSummaryView[];
  readonly issuedTotal: number;
  readonly servingIssuedTotal: number;
}

export interface AuthorityView {
  info(): AuthorityInfoView;
}

/** Only public fields are read; the serving key is never touched. */
export interface ServingView {
  current(): { readonly certChainPem: string; readonly notBefore: number; readonly notAfter: number };
  renewAt?(): number | undefined;
}

export interface PeeringView {
  /** Peer conditions as the peering layer reports them; normalised by peers.ts. */
  status(): unknown[];
}

export interface AuthView {
  jwks(): unknown;
}

export interface SourceHealthView {
  readonly source: string;
  readonly healthy: boolean;
  readonly synced: boolean;
  readonly lastFullScanAt: number | null;
  readonly problems: readonly SourceProblemView[];
}

export interface SourceProblemView {
  readonly path: string;
  readonly code: string;
  readonly reason: string;
  readonly since: number;
}

export interface Readiness {
  ready: boolean;
  reasons: string[];
}

export interface ClockView {
  now(): number;
}

/** Everything createAdmin reads from the daemon. */
export interface AdminDaemonView {
  readonly cfg: DaemonConfig;
  readonly metrics: Registry;
  readonly wire: WireView;
  readonly cache: CacheView;
  readonly registry: RegistryView;
  readonly xds: XdsView;
  readonly authority: AuthorityView;
  readonly serving: ServingView;
  readonly auth: AuthView;
  readonly peering?: PeeringView;
  readonly clock: ClockView;
  readonly startedAt: number;
  readonly grpcPort: number;
  readiness(): Readiness;
  /** Registry source health (absent in hand-built views: reported as no sources). */
  sources?(): readonly SourceHealthView[];
}
