import { ipToString } from '../push';
import type { RegistrySnapshot } from '../registry';
import { serviceHostname } from '../translate';
import type {
  AddressMsg, GatewayAddressMsg, LocalOutput, MeshContext, PortMsg, ServiceMsg, WorkloadMsg,
} from '../translate';
import { LABEL } from '../model';
import type { PeerDecl } from './declare';
import { isWorkload, type ExportedService } from './export';
import { GlobalKeyCopies } from './global-keys';
import { allocateVips, slotOf, slotToBytes } from './vip';
import { AddressOwners } from './collisions';
import { Takeover } from './types';
import { flatPodWorkload, gatewayFor, globalService, nodeGatewayAddresses, splitHorizon, splitHorizonServices, splitHorizonUid, vipAddr } from './shapes';

export { loadBalancingFor, nodeGatewayHost, splitHorizonUid } from './shapes';
import type { ClusterInfoMsg, FederatedServiceMsg, PeerNodeMsg, PeerWorkloadMsg } from './types';

/** One peer's imported data (its partition, written only by its client). */
export interface PeerData {
  readonly clusterInfo?: ClusterInfoMsg;
  readonly services: ReadonlyMap<string, FederatedServiceMsg>;
  readonly workloads: ReadonlyMap<string, PeerWorkloadMsg>;
  readonly nodes: ReadonlyMap<string, PeerNodeMsg>;
}

export interface PeerView {
  decl: PeerDecl;
  data: PeerData;
  /** Same network and flat networks enabled: pods are imported as real workloads. */
  flat: boolean;
}

export interface MergeInput {
  snapshot: RegistrySnapshot;
  mesh: MeshContext;
  local: LocalOutput;
  exported: ReadonlyMap<string, ExportedService>;
  /** Sorted by cluster id. */
  peers: readonly PeerView[];
  suffix: string;
  defaultTrafficDistribution: string;
}

export interface MergeResult {
  addresses: Map<string, AddressMsg>;
  /**
   * Set on an incremental merge: `addresses` differs from the previous
   * result's only in these names (an object that kept its identity is not
   * listed). Absent after a full merge — then compare the maps.
   */
  changed?: Set<string>;
  removed?: Set<string>;
  /** Per peer cluster: address collisions found (flat mode), human-readable. */
  conflicts: Map<string, string[]>;
  /** Global service hostname -> VIP. */
  vips: Map<string, string>;
}

/** Issue point 5: traffic distribution -> ztunnel LoadBalancing. */
interface Group {
  ns: string;
  name: string;
  local?: ExportedService;
  /** By peer cluster; emitted in cluster order. */
  remotes: Map<string, { peer: PeerView; fs: FederatedServiceMsg }>;
  takeover: boolean;
  /** Remote clusters in order, cached until the set of remotes changes (not when their data does). */
  order?: string[];
}

/** Peer partitions changed only in these FederatedServices since the last merge (cluster -> "ns/name"). */
export type MergeDirty = ReadonlyMap<string, ReadonlySet<string>>;

/**
 * Pure merge of local output and every peer partition into what local ztunnels
 * see, memoised on object identity so an unchanged input yields the same
 * output objects (the push Encoder then re-encodes nothing). A full merge is
 * O(everything); when only some peers' FederatedServices changed (the steady
 * state: bucket crossings), only the affected global services are redone.
 */
export class Merger {
  private readonly localCopies = new GlobalKeyCopies();
  private synthetic = new Map<string, { fs: FederatedServiceMsg; decl: PeerDecl; gsig: string; msg: { workload: WorkloadMsg } }>();
  private readonly flatMemo = new WeakMap<PeerWorkloadMsg, { sig: string; msg: { workload: WorkloadMsg } }>();
  private nodeMemo = new Map<string, { sig: string; msg: AddressMsg }>();
  private services = new Map<string, { sig: string; msg: { service: ServiceMsg } }>();
  private readonly reported = new Set<string>();
  private groups = new Map<string, Group>();
  private out = new Map<string, AddressMsg>();
  private slots = new Map<string, number>();
  private last?: MergeResult;
  /** Shared read-only parts of split-horizon workloads (see splitHorizon's `parts`). */
  private readonly gateways = new WeakMap<PeerDecl, { key: string; gw: GatewayAddressMsg }>();
  private shapes = new Map<string, Record<string, { ports?: PortMsg[] }>>();
  private nextShapes?: Map<string, Record<string, { ports?: PortMsg[] }>>;
  private readonly capacities = new Map<number, { value: number }>();

  /**
   * Incremental when `dirty` is given and nothing structural changed; falls
   * back to a full merge otherwise. `live`: the result's `addresses` is the
   * merger's own map, updated in place by later incremental merges (no O(all)
   * copy per push; the caller uses the changed/removed hints); otherwise each
   * result owns a copy.
   */
  merge(i: MergeInput, onConflict: (cluster: string, message: string) => void, dirty?: MergeDirty, opts: { live?: boolean } = {}): MergeResult {
    if (dirty && this.last) {
      const hint = this.incremental(i, dirty);
      if (hint) {
        this.last = { addresses: opts.live ? this.out : new Map(this.out), conflicts: this.last.conflicts, vips: this.last.vips, changed: hint.changed, removed: hint.removed };
        return this.last;
      }
    }
    this.last = this.full(i, onConflict);
    if (opts.live) this.last.addresses = this.out;
    return this.last;
  }

  // Takeover (peering-model.md §2.1): local Service label, then Namespace, then what peers advertise, then global-only.
  private takeover(i: MergeInput, g: Group): boolean {
    if (g.local && g.local.takeover !== Takeover.UNSET) return g.local.takeover === Takeover.TRUE;
    const nsV = i.snapshot.namespaces.get(g.ns)?.labels[LABEL.serviceTakeover];
    if (nsV === 'true' || nsV === 'false') return nsV === 'true';
    let global = g.local?.scope === 'global-only';
    for (const r of this.ordered(g)) {
      if (r.fs.takeover && r.fs.takeover !== Takeover.UNSET) return r.fs.takeover === Takeover.TRUE;
      if (r.fs.scope === 'global-only') global = true;
    }
    return global;
  }

  private ordered(g: Group): { peer: PeerView; fs: FederatedServiceMsg }[] {
    // Default sort compares UTF-16 code units, like the < of the cluster ids it replaces.
    g.order ??= [...g.remotes.keys()].sort();
    return g.order.map((c) => g.remotes.get(c)!);
  }

  /**
   * Redoes the touched global services (they summarise every remote) and only
   * the changed peers' endpoints: a bucket crossing costs O(peers of that
   * service) for the global service's summary, not an endpoint rebuild per
   * peer. Undefined when a full merge is needed (nothing was modified then).
   */
  private incremental(i: MergeInput, dirty: MergeDirty): { changed: Set<string>; removed: Set<string> } | undefined {
    const views = new Map(i.peers.map((p) => [p.decl.cluster, p]));
    const touched = new Map<Group, string[]>();
    for (const [cluster, keys] of dirty) {
      const peer = views.get(cluster);
      if (!peer || peer.flat) return undefined;
      for (const key of keys) {
        const fs = peer.data.services.get(key);
        const g = this.groups.get(key);
        if (!g) return undefined; // a new global service: VIPs are re-planned
        if (fs) {
          if (!g.remotes.has(cluster)) g.order = undefined;
          g.remotes.set(cluster, { peer, fs });
        } else if (g.remotes.delete(cluster)) g.order = undefined;
        if (!g.local && g.remotes.size === 0) return undefined; // a global service disappears
        const l = touched.get(g);
        if (l) l.push(cluster);
        else touched.set(g, [cluster]);
      }
    }
    for (const g of touched.keys()) {
      const tk = this.takeover(i, g);
      if (tk !== g.takeover) return undefined; // takeover names change the VIP plan
    }
    const changed = new Set<string>();
    const removed = new Set<string>();
    for (const [g, clusters] of touched) {
      const before = new Map<string, AddressMsg | undefined>();
      const note = (k: string): void => void (before.has(k) || before.set(k, this.out.get(k)));
      const n = this.names(i, g);
      for (const k of n.serviceKeys) note(k);
      this.emitServices(i, g, n, this.services);
      for (const cluster of clusters) {
        const peer = views.get(cluster)!;
        const uid = splitHorizonUid(peer.decl, g.ns, n.host);
        note(uid);
        const r = g.remotes.get(cluster);
        if (r && !peer.flat) {
          this.emitRemote(i, r.peer, r.fs, n, this.synthetic);
        } else {
          this.out.delete(uid);
          this.synthetic.delete(uid);
        }
      }
      // Memoised entries keep their identity, so only real changes are hinted. A changed workload is
      // hinted by its own uid string, not the recomputed key: the encoder keeps the hinted name in the
      // xDS cache, and a second copy of every uid there cost ~26 MB at 2,000 peers x 100 services.
      for (const [k, old] of before) {
        const now = this.out.get(k);
        if (now === old) continue;
        if (now) changed.add(isWorkload(now) ? now.workload.uid : k);
        else removed.add(k);
      }
    }
    return { changed, removed };
  }

  /** Names one global service produces (its hostname, the keys its endpoints list, and the service entries). */
  private names(i: MergeInput, g: Group): { host: string; svcKeys: string[]; gsig: string; takeoverHost?: string; serviceKeys: string[] } {
    const host = `${g.name}.${g.ns}.${i.suffix}`;
    const takeoverHost = g.takeover ? serviceHostname(g.name, g.ns, i.mesh.domainSuffix) : undefined;
    const globalKey = `${g.ns}/${host}`;
    const svcKeys = [globalKey];
    if (takeoverHost) svcKeys.push(`${g.ns}/${takeoverHost}`);
    const serviceKeys = [globalKey];
    if (takeoverHost && !i.snapshot.services.has(`${g.ns}/${g.name}`)) serviceKeys.push(`${g.ns}/${takeoverHost}`);
    return { host, svcKeys, gsig: svcKeys.join(','), takeoverHost, serviceKeys };
  }

  /** The global service (+ takeover alias without a local Service) into this.out; returns their keys. */
  private emitServices(i: MergeInput, g: Group, n: ReturnType<Merger['names']>, nextServices: Map<string, { sig: string; msg: { service: ServiceMsg } }>): string[] {
    const sMsg = globalService(i, g, this.ordered(g), n.host, this.slots.get(n.host)!);
    const keys = [this.keep(nextServices, n.serviceKeys[0]!, sMsg)];
    if (n.serviceKeys.length > 1) keys.push(this.keep(nextServices, n.serviceKeys[1]!, { ...sMsg, hostname: n.takeoverHost!, addresses: [vipAddr(i.mesh, this.slots.get(n.takeoverHost!)!)] }));
    return keys;
  }

  /** One peer's split-horizon endpoint of a global service into this.out (memoised); returns its uid. */
  private emitRemote(
    i: MergeInput, peer: PeerView, fs: FederatedServiceMsg, n: ReturnType<Merger['names']>,
    nextSynthetic: Map<string, { fs: FederatedServiceMsg; decl: PeerDecl; gsig: string; msg: { workload: WorkloadMsg } }>,
  ): string {
    // Keyed by the workload uid (one per peer gateway and global service); stored under the
    // message's own uid string so the map holds no second copy of it.
    const prev = this.synthetic.get(splitHorizonUid(peer.decl, fs.namespace, n.host));
    const m = prev && prev.fs === fs && prev.decl === peer.decl && prev.gsig === n.gsig
      ? prev
      : { fs, decl: peer.decl, gsig: n.gsig, msg: { workload: splitHorizon(i, peer, fs, n.host, n.svcKeys, this.sharedParts(i, peer.decl, fs, n.gsig, n.svcKeys)) } };
    nextSynthetic.set(m.msg.workload.uid, m);
    this.out.set(m.msg.workload.uid, m.msg);
    return m.msg.workload.uid;
  }

  /** Emits one global service (+ takeover service) and its per-peer endpoints into this.out; returns the keys. */
  private emit(
    i: MergeInput, g: Group,
    nextServices: Map<string, { sig: string; msg: { service: ServiceMsg } }>,
    nextSynthetic: Map<string, { fs: FederatedServiceMsg; decl: PeerDecl; gsig: string; msg: { workload: WorkloadMsg } }>,
  ): string[] {
    const n = this.names(i, g);
    const keys = this.emitServices(i, g, n, nextServices);
    for (const { peer, fs } of this.ordered(g)) {
      if (peer.flat) continue; // pods arrive as PeerWorkloads
      keys.push(this.emitRemote(i, peer, fs, n, nextSynthetic));
    }
    return keys;
  }

  private sharedParts(i: MergeInput, decl: PeerDecl, fs: FederatedServiceMsg, gsig: string, svcKeys: string[]): Parameters<typeof splitHorizon>[5] {
    const gkey = `${i.mesh.rootNamespace}|${i.suffix}`;
    let g = this.gateways.get(decl);
    if (!g || g.key !== gkey) this.gateways.set(decl, (g = { key: gkey, gw: gatewayFor(i, decl) }));
    const skey = `${gsig}|${(fs.ports ?? []).map((p) => `${p.port}:${p.targetPort || p.port}`).join(',')}`;
    let services = this.shapes.get(skey) ?? this.nextShapes?.get(skey);
    if (!services) services = splitHorizonServices(fs, svcKeys);
    (this.nextShapes ?? this.shapes).set(skey, services);
    let capacity: { value: number } | undefined;
    if (fs.capacity) {
      capacity = this.capacities.get(fs.capacity);
      if (!capacity) {
        capacity = { value: fs.capacity };
        if (this.capacities.size < 64) this.capacities.set(fs.capacity, capacity);
      }
    }
    return { gateway: g.gw, services, capacity };
  }

  private full(i: MergeInput, onConflict: (cluster: string, message: string) => void): MergeResult {
    const { mesh, suffix } = i;
    // Shared shapes still in use are carried over; the rest are dropped with this merge.
    this.nextShapes = new Map();
    const groups = new Map<string, Group>();
    const group = (ns: string, name: string): Group => {
      const k = `${ns}/${name}`;
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { ns, name, remotes: new Map(), takeover: false }));
      return g;
    };
    for (const e of i.exported.values()) group(e.svc.namespace, e.svc.name).local = e;
    for (const p of i.peers) for (const fs of p.data.services.values()) group(fs.namespace, fs.name).remotes.set(p.decl.cluster, { peer: p, fs });

    // Reserved slots: local addresses inside the VIP range are never handed out.
    const reserved = new Set<number>();
    const owners = new AddressOwners();
    for (const [name, a] of i.local.addresses) {
      if (isWorkload(a)) {
        owners.claim(a.workload, `local ${name}`);
      } else {
        for (const na of a.service.addresses ?? []) {
          const s = slotOf(na.address);
          if (s !== undefined) reserved.add(s);
        }
      }
    }

    const hosts: string[] = [];
    for (const g of groups.values()) {
      g.takeover = this.takeover(i, g);
      hosts.push(`${g.name}.${g.ns}.${suffix}`);
      if (g.takeover && !i.snapshot.services.has(`${g.ns}/${g.name}`)) hosts.push(serviceHostname(g.name, g.ns, mesh.domainSuffix));
    }
    this.slots = allocateVips(hosts, reserved);
    const vips = new Map<string, string>();
    for (const [h, s] of this.slots) vips.set(h, ipToString(slotToBytes(s)));

    this.out = new Map<string, AddressMsg>();
    const out = this.out;
    // Local hostKey -> extra service keys its pods gain (the global hostname).
    const extraKeys = new Map<string, string>();
    const nextServices = new Map<string, { sig: string; msg: { service: ServiceMsg } }>();
    const nextSynthetic = new Map<string, { fs: FederatedServiceMsg; decl: PeerDecl; gsig: string; msg: { workload: WorkloadMsg } }>();
    const flatOut: [string, { workload: WorkloadMsg }, string][] = [];

    for (const g of groups.values()) {
      if (g.local) extraKeys.set(`${g.ns}/${serviceHostname(g.name, g.ns, mesh.domainSuffix)}`, `${g.ns}/${g.name}.${g.ns}.${suffix}`);
      this.emit(i, g, nextServices, nextSynthetic);
    }
    this.groups = groups;
    this.services = nextServices;
    this.synthetic = nextSynthetic;
    this.shapes = this.nextShapes;
    this.nextShapes = undefined;

    // Local pods of exported services also back the global hostname.
    for (const [name, a] of i.local.addresses) if (!out.has(name)) out.set(name, this.localCopies.apply(a, extraKeys));

    // Flat peers: real workloads with their own IPs; collisions are reported, never shadowing.
    for (const peer of i.peers) {
      if (peer.flat) {
        for (const pw of peer.data.workloads.values()) {
          const w = this.flatWorkload(i, peer, pw);
          if (w) flatOut.push([w.workload.uid, w, peer.decl.cluster]);
        }
      }
    }
    const nextNodes = new Map<string, { sig: string; msg: AddressMsg }>();
    for (const peer of i.peers) if (peer.decl.nodePort) this.nodeGateway(i, peer, out, nextNodes);
    this.nodeMemo = nextNodes;
    const { accepted, conflicts } = owners.admitFlat(flatOut, this.reported, onConflict);
    for (const [uid, a] of accepted) out.set(uid, a);
    if (this.reported.size > 10_000) this.reported.clear();
    return { addresses: new Map(out), conflicts, vips };
  }

  private keep(next: Map<string, { sig: string; msg: { service: ServiceMsg } }>, key: string, s: ServiceMsg): string {
    const sig = JSON.stringify(s);
    const prev = this.services.get(key);
    const m = prev && prev.sig === sig ? prev : { sig, msg: { service: s } };
    next.set(key, m);
    this.out.set(key, m.msg);
    return key;
  }

  private flatWorkload(i: MergeInput, peer: PeerView, pw: PeerWorkloadMsg): { workload: WorkloadMsg } | undefined {
    const keys: string[] = [];
    for (const k of Object.keys(pw.services ?? {}).sort()) {
      const [ns, name] = k.split('/');
      keys.push(`${ns}/${name}.${ns}.${i.suffix}`);
    }
    const sig = `${peer.decl.cluster}|${i.mesh.network}|${JSON.stringify(peer.decl.locality ?? {})}|${keys.join(',')}`;
    const prev = this.flatMemo.get(pw);
    if (prev && prev.sig === sig) return prev.msg;
    const msg = { workload: flatPodWorkload(pw, peer.decl, i.mesh.network, i.suffix) };
    this.flatMemo.set(pw, { sig, msg });
    return msg;
  }

  /** NodePort mode: memoised node-gateway service and node workloads of one peer. */
  private nodeGateway(i: MergeInput, peer: PeerView, out: Map<string, AddressMsg>, next: Map<string, { sig: string; msg: AddressMsg }>): void {
    for (const [key, a] of nodeGatewayAddresses(peer.decl, peer.data.nodes.values(), i.mesh.rootNamespace, i.suffix)) {
      const sig = JSON.stringify(a);
      const prev = this.nodeMemo.get(key);
      const m = prev && prev.sig === sig ? prev : { sig, msg: a };
      next.set(key, m);
      out.set(key, m.msg);
    }
  }
}
