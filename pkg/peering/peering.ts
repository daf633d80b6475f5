import * as fs from 'node:fs';
import type protobuf from 'protobufjs';
import { VERSION } from '../config';
import type { PeeringBuildInput, PeeringBuildResult, PeeringContext, PeeringLayer } from './contract';
import { authorizePeeringType, peerTrustDomains } from './peer-authz';
import type { CallerIdentity } from '../auth';
import type { RegistrySnapshot } from '../registry';
import { LABEL, type Kind } from '../model';
import {
  Admission,
  GatewayHealth,
  SecureContexts,
  TERMINATION_REASONS,
  dataDeclFor,
  peeringTypes,
  probeTargets,
} from './link';
import {
  PEERING_TYPES,
  TYPE_CLUSTER_INFO,
  TYPE_FEDERATED_SERVICE,
  TYPE_PEER_NODE,
  TYPE_PEER_WORKLOAD,
  declaredPeers,
  type PeerDeclarations,
} from './core';
import { MergeStep, type Conflict, type PeerView } from './generate';
import { PeerPartition, PeerStateWriter, StringPool, peerFile, restorePeerState } from './state';
import { createPeeringMetrics, type PeeringMetrics } from './metrics';
import type { PeerStatus } from './status';
import { StatusBook } from './status-book';
import { type Peer, type PeerClientDeps, newPeerClient } from './new-peer-client';
import { reportDeclarations } from './report-declarations';
import { LinkProgramming, ProgrammingTracker, type PlaneView } from './programming';
import { DIAL_CONCURRENCY, DIAL_HOLD_MS, type PeeringTuning } from './tuning';

/**
 * The kinds reconcile() reads: declaredPeers reads Gateways, the Services named like them and Nodes; localNetwork
 * reads the system Namespace. A change of only other kinds (Pods under churn) cannot change a declaration, and
 * skipping it spares each such change a registry snapshot and a pass over the Gateways.
 */
const DECLARING_KINDS: ReadonlySet<Kind> = new Set<Kind>(['Gateway', 'Service', 'Node', 'Namespace']);

export class Peering implements PeeringLayer {
  readonly exportTypes: ReadonlyMap<string, protobuf.Type>;
  private readonly peers = new Map<string, Peer>();
  /** Restored partitions not yet claimed by a declared peer. */
  private readonly restoredParts = new Map<string, PeerPartition>();
  private declarations: PeerDeclarations = { peers: [], invalid: [], self: [], duplicates: [] };
  /** The generator behind build(): merge and exports. */
  private readonly step: MergeStep;
  private readonly metrics: PeeringMetrics;
  private readonly log;
  private restoreDone = false;
  readonly restoreProblems: { file: string; reason: string }[] = [];
  private conflicts = new Map<string, Conflict[]>();
  private readonly book: StatusBook;
  private readonly health: GatewayHealth;
  private readonly programming: ProgrammingTracker;
  private readonly writer: PeerStateWriter;
  private unsub?: () => void;
  private closed = false;
  private lastNetwork?: string;
  private reported = new Set<string>();
  private readonly identityNs: string;
  /** Set when peers were added, removed or re-declared: the next merge is a full one. */
  private structural = true;
  /** Client TLS contexts shared by all peer links of one (roots, identity) generation. */
  readonly contexts: SecureContexts;
  /** Strings of imported resources, shared across peers (N peers send the same service names). */
  private readonly pool = new StringPool();
  /** Shared by every peer client: bounded concurrent dials/first syncs. */
  readonly admission: Admission;
  /** What every peer's client reads from this layer (new-peer-client.ts). */
  private readonly clientDeps: PeerClientDeps;

  constructor(
    private readonly ctx: PeeringContext,
    tuning: PeeringTuning = {},
  ) {
    this.exportTypes = peeringTypes(ctx.wire);
    this.step = new MergeStep({
      version: VERSION,
      suffix: ctx.cfg.peering.discoverySuffix,
      now: () => ctx.clock.now(),
      defaultTrafficDistribution: ctx.cfg.peering.defaultTrafficDistribution,
    });
    this.metrics = createPeeringMetrics(ctx.metrics);
    this.log = ctx.logger;
    this.identityNs = ctx.cfg.ca.identity.split('/')[0] || ctx.cfg.systemNamespace;
    this.contexts = new SecureContexts();
    this.admission = new Admission({
      limit: tuning.dialConcurrency ?? DIAL_CONCURRENCY,
      holdMs: tuning.dialHoldMs ?? DIAL_HOLD_MS,
    });
    // Stamps DataPlaneProgrammed when the ACK that programs a link arrives (not when someone reads it).
    // Only a link whose data-plane state moved since the last check has a condition to stamp: re-deriving
    // every waiting link's status at each 50 ms check cost ~100 statuses per peer in a first sync (issue 20).
    this.programming = new ProgrammingTracker(ctx, (links, plane) => {
      for (const p of this.peers.values()) {
        if (!links.has(p.programming)) continue;
        const st = this.programming.state(p.programming, plane);
        if (st === p.programming.checked) continue;
        p.programming.checked = st;
        this.observe(p, plane);
      }
    });
    this.health = new GatewayHealth({
      onChange: () => this.onGatewayHealth(),
      now: () => ctx.clock.now(),
      probe: tuning.probe,
      intervalMs: tuning.probeIntervalMs,
    });
    this.book = new StatusBook(this.health, this.programming);
    this.writer = new PeerStateWriter({
      stateDir: ctx.cfg.stateDir,
      types: this.exportTypes,
      log: this.log,
      delayMs: tuning.saveDelayMs ?? 1000,
      due: () =>
        [...this.peers.values()].filter((p) => p.partition.dirty && p.client.state.synced).map((p) => p.partition),
      current: (p) => this.peers.get(p.cluster)?.partition === p,
      // Unlinked while its file was being written: remove it again. Re-linked meanwhile (a new
      // partition holds the cluster): keep the series and rewrite the file from the new partition.
      onStale: (cluster) => {
        const live = this.peers.get(cluster);
        if (!live) return void this.forget(cluster);
        live.partition.dirty = true;
        this.writer.schedule();
      },
    });
    this.clientDeps = {
      ctx,
      tuning,
      metrics: this.metrics,
      log: this.log,
      exportTypes: this.exportTypes,
      identityNs: this.identityNs,
      contexts: this.contexts,
      pool: this.pool,
      admission: this.admission,
      writer: this.writer,
      observe: (p) => this.observe(p),
    };
  }

  private localNetwork(snapshot: RegistrySnapshot): string {
    if (this.ctx.cfg.network) return this.ctx.cfg.network;
    return snapshot.namespaces.get(this.ctx.cfg.systemNamespace)?.labels[LABEL.network] ?? '';
  }

  /** Restores persisted peer data synchronously, then dials every declared peer. */
  async start(): Promise<void> {
    if (this.restoreDone) return;
    this.restore();
    this.restoreDone = true;
    if (this.ctx.cfg.peering.disableLegacyMulticluster)
      this.log.info('DISABLE_LEGACY_MULTICLUSTER: no-op, ambientd has no remote-kubeconfig discovery');
    this.reconcile();
    this.unsub = this.ctx.onRegistryChange((kinds) => {
      for (const k of kinds) {
        if (!DECLARING_KINDS.has(k)) continue;
        this.reconcile();
        return;
      }
    });
  }

  private restore(): void {
    const r = restorePeerState(this.ctx.cfg.stateDir, this.exportTypes, this.log, this.pool);
    for (const [cluster, p] of r.parts) this.restoredParts.set(cluster, p);
    this.restoreProblems.push(...r.problems);
  }

  /** Registry changed (one of DECLARING_KINDS): re-read istio-remote Gateways; (re)connect, update or unlink peers. */
  private reconcile(): void {
    if (this.closed) return;
    const snapshot = this.ctx.snapshot();
    const cfg = this.ctx.cfg;
    const decls = declaredPeers(snapshot, {
      localCluster: cfg.clusterId,
      localTrustDomain: cfg.trustDomain,
      peerIdentity: cfg.peering.peerIdentity,
      trustDomains: peerTrustDomains(cfg),
    });
    this.reported = reportDeclarations(this.log, this.reported, decls);
    this.declarations = decls;
    const network = this.localNetwork(snapshot);
    let push = network !== this.lastNetwork && this.lastNetwork !== undefined;
    this.lastNetwork = network;
    const wanted = new Set<string>();
    for (const decl of decls.peers) {
      wanted.add(decl.cluster);
      const flat = cfg.peering.enableFlatNetworks && decl.network === network;
      const types = [TYPE_CLUSTER_INFO, TYPE_FEDERATED_SERVICE];
      if (flat) types.push(TYPE_PEER_WORKLOAD);
      if (decl.nodePort) types.push(TYPE_PEER_NODE);
      const key = `${decl.connKey}|${flat}`;
      const cur = this.peers.get(decl.cluster);
      if (cur && cur.key === key) {
        if (JSON.stringify(cur.decl) !== JSON.stringify(decl)) {
          cur.decl = decl; // locality/ports: same connection, regenerate derived data
          push = true;
        }
        continue;
      }
      const partition = cur?.partition ?? this.restoredParts.get(decl.cluster) ?? new PeerPartition(decl.cluster);
      this.restoredParts.delete(decl.cluster);
      if (cur) {
        this.log.info({ peer: decl.cluster }, 'peer declaration changed; reconnecting');
        cur.client.close();
        this.programming.forget(cur.programming);
      }
      for (const t of PEERING_TYPES) if (!types.includes(t)) partition.clearType(t);
      const fields = { decl, flat, types, key, partition, programming: new LinkProgramming() };
      // The client's callbacks read the peer it belongs to; none runs before start(), below.
      const peer: Peer = { ...fields, client: newPeerClient(this.clientDeps, fields, () => peer) };
      this.peers.set(decl.cluster, peer);
      peer.client.start();
      push = true;
    }
    for (const [cluster, p] of this.peers) {
      if (wanted.has(cluster)) continue;
      p.client.close();
      this.programming.forget(p.programming);
      this.peers.delete(cluster);
      this.forget(cluster);
      this.log.info({ peer: cluster }, 'istio-remote Gateway removed: peer unlinked, its data withdrawn');
      push = true;
    }
    for (const cluster of [...this.restoredParts.keys()]) {
      if (wanted.has(cluster)) continue;
      this.restoredParts.delete(cluster);
      this.forget(cluster);
      this.log.info({ peer: cluster }, 'persisted data of a peer that is no longer declared removed');
    }
    this.probeGateways();
    for (const p of this.peers.values()) this.updateDataDecl(p);
    if (push) {
      this.structural = true;
      this.ctx.requestPush();
    }
  }

  private probeGateways(): void {
    this.health.setTargets(probeTargets(this.peers.values()));
  }

  /** Recomputes a peer's data-plane gateway set; true when it changed. */
  private updateDataDecl(p: Peer): boolean {
    const prev = p.dataDecl;
    p.dataDecl = dataDeclFor(p.decl, prev, (id) => this.health.healthy(id));
    return prev !== undefined && p.dataDecl !== prev;
  }

  private onGatewayHealth(): void {
    if (this.closed) return;
    let changed = false;
    for (const p of this.peers.values()) {
      if (this.updateDataDecl(p)) {
        changed = true;
        const gateways = p.dataDecl!.dataGateways!.map((g) => g.id);
        this.log.info({ peer: p.decl.cluster, gateways }, 'peer gateways for the data plane changed');
        this.observe(p);
      }
    }
    if (changed) {
      this.structural = true;
      this.ctx.requestPush();
    }
  }

  private forget(cluster: string): void {
    try {
      fs.rmSync(peerFile(this.ctx.cfg.stateDir, cluster), { force: true });
    } catch (e) {
      this.log.error({ peer: cluster, err: (e as Error).message }, 'cannot remove persisted peer state');
    }
    for (const g of [this.metrics.connected, this.metrics.synced, this.metrics.lastSync]) g.remove({ peer: cluster });
    for (const t of PEERING_TYPES) this.metrics.resources.remove({ peer: cluster, type: t.split('.').pop()! });
    this.conflicts.delete(cluster);
  }

  build(input: PeeringBuildInput): PeeringBuildResult {
    const enableFlat = this.ctx.cfg.peering.enableFlatNetworks;
    const views: PeerView[] = [];
    let originAt: number | undefined;
    let structural = this.structural;
    this.structural = false;
    const dirty = new Map<string, Set<string>>();
    if (this.peers.size > 0) {
      // This build carries every synced link's data; the commit that follows it gets a seq above the mark.
      this.programming.noteBuild([...this.peers.values()].map((p) => p.programming));
    }
    for (const p of [...this.peers.values()].sort((a, b) => (a.decl.cluster < b.decl.cluster ? -1 : 1))) {
      const flat = enableFlat && p.decl.network === input.mesh.network;
      views.push({ decl: p.dataDecl ?? p.decl, data: p.partition, flat });
      const o = p.partition.takeOrigin();
      if (o !== undefined) originAt = Math.min(originAt ?? o, o);
      if (p.partition.structural) structural = true;
      if (p.partition.changedServices.size) dirty.set(p.decl.cluster, p.partition.changedServices);
      p.partition.changedServices = new Set();
      p.partition.structural = false;
    }
    const out = this.step.build({
      ...input,
      peers: views,
      dirty: structural ? undefined : dirty,
      onConflict: (cluster, message) =>
        this.log.error(
          { peer: cluster, conflict: message },
          'flat network address collision: the imported workload is not programmed ' +
            '(flat networks need unique pod and service CIDRs)',
        ),
    });
    this.conflicts = out.conflicts;
    return originAt === undefined ? { deltas: out.deltas } : { deltas: out.deltas, originAt };
  }

  /** Peers may watch only peering types; nobody else may watch them (peer-authz.ts). */
  authorizeType(identity: CallerIdentity, typeUrl: string): boolean | undefined {
    return authorizePeeringType(identity, typeUrl, { peerTypes: this.exportTypes, cfg: this.ctx.cfg, log: this.log });
  }

  restored(): boolean {
    return this.restoreDone;
  }

  status(): PeerStatus[] {
    return this.book.list(
      this.peers.values(),
      (c) => this.conflicts.get(c) ?? [],
      this.declarations,
      this.ctx.clock.now(),
    );
  }

  /** Stamps a peer's conditions at the moment its state changes (lastTransitionTime is the event's time). */
  private observe(p: Peer, plane?: PlaneView): void {
    if (this.peers.get(p.decl.cluster) !== p) return;
    this.book.peer(p, this.conflicts.get(p.decl.cluster) ?? [], this.ctx.clock.now(), plane);
  }

  onDataPlaneAck(): void {
    this.programming.onAck();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.stopParts();
    // A background write under way finishes first: saveNow writes the same temp file.
    await this.writer.settled();
    for (const p of this.peers.values()) {
      p.client.close();
      if (p.partition.dirty && p.partition.lastSyncAt !== undefined) this.writer.saveNow(p.partition);
    }
  }

  destroy(): void {
    this.stopParts();
    for (const p of this.peers.values()) p.client.close();
  }

  /** The teardown close() and destroy() share; they differ only in saving dirty partitions. */
  private stopParts(): void {
    this.closed = true;
    this.health.close();
    this.programming.close();
    this.unsub?.();
    this.writer.close();
    this.admission.clear();
  }
}

export const KNOWN_TERMINATION_REASONS = TERMINATION_REASONS;
