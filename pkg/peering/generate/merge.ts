import { serviceHostname } from '../../translate';
import type { AddressMsg, ServiceMsg, WorkloadMsg } from '../../translate';
import { LABEL, bytesToIp } from '../../model';
import { isWorkload } from './export';
import { GlobalKeyCopies } from './global-keys';
import { allocateVips, slotOf, slotToBytes } from './vip';
import { AddressOwners } from './address-owners';
import { Takeover } from '../core';
import { globalService, vipAddr } from './shapes';
import {
  type GlobalNames,
  type ServiceMemo,
  emitGateways,
  emitRemote,
  flatWorkload,
  globalNames,
  keepService,
} from './emit-remote';

export { loadBalancingFor, nodeGatewayHost, splitHorizonUid } from './shapes';
import type { FederatedServiceMsg, PeerWorkloadMsg } from '../core';
import { type Group, type Remote, dropRemote, setRemote, withdraw } from './merge-groups';
import type { MergeDirty, MergeInput, MergeResult, RemoteChanges } from './merge-types';

export type { MergeDirty, MergeInput, MergeResult, PeerData, PeerView, RemoteChanges } from './merge-types';

/**
 * Pure merge of local output and every peer partition into what local ztunnels
 * see, memoised on object identity so an unchanged input yields the same
 * output objects (the push Encoder then re-encodes nothing). A full merge is
 * O(everything); when only some peers' FederatedServices changed (the steady
 * state: bucket crossings), only the affected global services are redone.
 */
export class Merger {
  private readonly localCopies = new GlobalKeyCopies();
  private readonly flatMemo = new WeakMap<PeerWorkloadMsg, { sig: string; msg: { workload: WorkloadMsg } }>();
  private nodeMemo = new Map<string, { sig: string; msg: AddressMsg }>();
  private services = new Map<string, { sig: string; msg: { service: ServiceMsg } }>();
  private readonly reported = new Set<string>();
  private groups = new Map<string, Group>();
  private out = new Map<string, AddressMsg>();
  private slots = new Map<string, number>();
  private last?: MergeResult;
  /** Split-horizon names removed by merges whose results are not yet known to be committed. */
  private unconfirmed = new Set<string>();

  /**
   * Incremental when `dirty` is given and nothing structural changed; falls
   * back to a full merge otherwise. `live`: the result's `addresses` is the
   * merger's own map, updated in place by later incremental merges (no O(all)
   * copy per push; the caller uses the changed/removed hints); otherwise each
   * result owns a copy.
   *
   * Calling merge() without `reset` tells the merger that the caller committed
   * the previous result. `reset`: earlier results may have been lost (a build
   * threw before the encoder): every split-horizon workload is rebuilt and every
   * removal since the last committed result is repeated.
   */
  merge(
    i: MergeInput,
    onConflict: (cluster: string, message: string) => void,
    dirty?: MergeDirty,
    opts: { live?: boolean; reset?: boolean } = {},
  ): MergeResult {
    if (!opts.reset) this.unconfirmed = new Set();
    const remote: RemoteChanges = { changed: new Map(), removed: new Set() };
    let res: MergeResult | undefined;
    if (dirty && this.last && !opts.reset) {
      const hint = this.incremental(i, dirty, remote);
      if (hint)
        res = {
          addresses: opts.live ? this.out : new Map(this.out),
          conflicts: this.last.conflicts,
          vips: this.last.vips,
          changed: hint.changed,
          removed: hint.removed,
          remote,
        };
    }
    if (!res) {
      res = this.full(i, onConflict, remote, opts.reset === true);
      if (opts.live) res.addresses = this.out;
    }
    this.settle(remote, opts.reset === true);
    this.last = res;
    return res;
  }

  /**
   * Withdraws every split-horizon workload (the layer stops merging: no peers,
   * nothing exported); the next merge is a full one. Same `reset` contract as merge().
   */
  clear(opts: { reset?: boolean } = {}): RemoteChanges {
    if (!opts.reset) this.unconfirmed = new Set();
    const remote: RemoteChanges = { changed: new Map(), removed: new Set() };
    for (const g of this.groups.values()) for (const r of g.remotes.values()) withdraw(r, remote);
    this.groups = new Map();
    this.out = new Map();
    this.services = new Map();
    this.last = undefined;
    this.settle(remote, opts.reset === true);
    return remote;
  }

  private settle(remote: RemoteChanges, reset: boolean): void {
    for (const n of remote.removed) this.unconfirmed.add(n);
    if (reset) for (const n of this.unconfirmed) remote.removed.add(n);
    // A name rebuilt in the same merge (a peer's gateway renamed and back, a reset) is not removed.
    for (const n of remote.changed.keys()) remote.removed.delete(n);
  }

  // Takeover (docs/design/peering-model.md): local Service label, then Namespace, then what peers advertise,
  // then global-only.
  private takeover(i: MergeInput, g: Group): boolean {
    if (g.local && g.local.takeover !== Takeover.UNSET) return g.local.takeover === Takeover.TRUE;
    const nsV = i.snapshot.namespaces.get(g.ns)?.labels[LABEL.serviceTakeover];
    if (nsV === 'true' || nsV === 'false') return nsV === 'true';
    let global = g.local?.scope === 'global-only';
    for (const r of this.summarised(g)) {
      if (r.fs.takeover && r.fs.takeover !== Takeover.UNSET) return r.fs.takeover === Takeover.TRUE;
      if (r.fs.scope === 'global-only') global = true;
    }
    return global;
  }

  /**
   * The remotes a global service's summary (takeover, ports, SANs, traffic distribution) reads,
   * in cluster order. When every remote holds the same FederatedService object — N peers
   * exporting one service with equal content, shared by StringPool.share — one of them gives
   * the same summary, and a first sync of N peers stops costing O(N) per service per build
   * (O(N²) over the sync: measured at 10,000 peers, issue 20).
   */
  private summarised(g: Group): readonly { fs: FederatedServiceMsg }[] {
    if (g.kinds.size === 1) return [{ fs: g.kinds.keys().next().value as FederatedServiceMsg }];
    return this.ordered(g);
  }

  private ordered(g: Group): Remote[] {
    // Default sort compares UTF-16 code units, like the < of the cluster ids it replaces.
    g.order ??= [...g.remotes.keys()].sort();
    return g.order.map((c) => g.remotes.get(c)!);
  }

  /**
   * Redoes the touched global services (they summarise every remote) and only
   * the changed peers' endpoints: a bucket crossing costs O(peers of that
   * service) for the global service's summary, not an endpoint rebuild per
   * peer. Undefined when a full merge is needed; the groups may then hold the
   * new inputs already (full() rebuilds them) and `remote.removed` the
   * workloads of withdrawn services.
   */
  private incremental(
    i: MergeInput,
    dirty: MergeDirty,
    remote: RemoteChanges,
  ): { changed: Set<string>; removed: Set<string> } | undefined {
    const views = new Map(i.peers.map((p) => [p.decl.cluster, p]));
    const touched = new Map<Group, string[]>();
    for (const [cluster, keys] of dirty) {
      const peer = views.get(cluster);
      if (!peer || peer.flat) return undefined;
      for (const key of keys) {
        const fs = peer.data.services.get(key);
        const g = this.groups.get(key);
        if (!g) return undefined; // a new global service: VIPs are re-planned
        const r = g.remotes.get(cluster);
        if (fs) {
          if (!r) g.order = undefined;
          setRemote(g, cluster, r, peer, fs);
        } else if (r) {
          dropRemote(g, cluster);
          g.order = undefined;
          withdraw(r, remote);
        }
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
      const n = globalNames(i, g);
      for (const k of n.serviceKeys) before.set(k, this.out.get(k));
      this.emitServices(i, g, n, this.services);
      for (const cluster of clusters) {
        const r = g.remotes.get(cluster);
        if (r) emitRemote(i, r, n, remote);
      }
      // Memoised services keep their identity, so only real changes are hinted.
      for (const [k, old] of before) {
        const now = this.out.get(k);
        if (now === old) continue;
        if (now) changed.add(k);
        else removed.add(k);
      }
    }
    return { changed, removed };
  }

  /** The global service (+ takeover alias without a local Service) into this.out; returns their keys. */
  private emitServices(i: MergeInput, g: Group, n: GlobalNames, nextServices: ServiceMemo): string[] {
    const sMsg = globalService(i, g, this.summarised(g), n.host, this.slots.get(n.host)!);
    const keys = [keepService(this.services, nextServices, this.out, n.serviceKeys[0]!, sMsg)];
    if (n.serviceKeys.length > 1)
      keys.push(
        keepService(this.services, nextServices, this.out, n.serviceKeys[1]!, {
          ...sMsg,
          hostname: n.takeoverHost!,
          addresses: [vipAddr(i.mesh, this.slots.get(n.takeoverHost!)!)],
        }),
      );
    return keys;
  }

  /** Emits one global service (+ takeover service) into this.out and its per-peer endpoints into `sink`. */
  private emit(i: MergeInput, g: Group, nextServices: ServiceMemo, sink: RemoteChanges): void {
    const n = globalNames(i, g);
    this.emitServices(i, g, n, nextServices);
    for (const r of this.ordered(g)) {
      if (r.peer.flat) {
        // Pods arrive as PeerWorkloads; a gateway endpoint built before the peer went flat is withdrawn.
        withdraw(r, sink);
        continue;
      }
      emitRemote(i, r, n, sink);
    }
  }

  private full(
    i: MergeInput,
    onConflict: (cluster: string, message: string) => void,
    sink: RemoteChanges,
    reset: boolean,
  ): MergeResult {
    const { mesh, suffix } = i;
    const previous = this.groups;
    const groups = new Map<string, Group>();
    const group = (k: string, ns: string, name: string): Group => {
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { ns, name, remotes: new Map(), takeover: false, kinds: new Map() }));
      return g;
    };
    for (const e of i.exported.values())
      group(`${e.svc.namespace}/${e.svc.name}`, e.svc.namespace, e.svc.name).local = e;
    for (const p of i.peers) {
      for (const fs of p.data.services.values()) {
        const k = `${fs.namespace}/${fs.name}`;
        // The previous remote object carries its memo (what its workload was built from) over; a reset starts afresh.
        const prev = reset ? undefined : previous.get(k)?.remotes.get(p.decl.cluster);
        setRemote(group(k, fs.namespace, fs.name), p.decl.cluster, prev, p, fs);
      }
    }

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
      if (g.takeover && !i.snapshot.services.has(`${g.ns}/${g.name}`))
        hosts.push(serviceHostname(g.name, g.ns, mesh.domainSuffix));
    }
    this.slots = allocateVips(hosts, reserved);
    const vips = new Map<string, string>();
    for (const [h, s] of this.slots) vips.set(h, bytesToIp(slotToBytes(s)));

    this.out = new Map<string, AddressMsg>();
    const out = this.out;
    // Local hostKey -> extra service keys its pods gain (the global hostname).
    const extraKeys = new Map<string, string>();
    const nextServices = new Map<string, { sig: string; msg: { service: ServiceMsg } }>();
    const flatOut: [string, { workload: WorkloadMsg }, string][] = [];

    for (const g of groups.values()) {
      if (g.local)
        extraKeys.set(
          `${g.ns}/${serviceHostname(g.name, g.ns, mesh.domainSuffix)}`,
          `${g.ns}/${g.name}.${g.ns}.${suffix}`,
        );
      this.emit(i, g, nextServices, sink);
    }
    // Endpoints of (peer, service) pairs that are gone (or, after a reset, replaced by fresh objects).
    for (const [k, g] of previous) {
      for (const [cluster, r] of g.remotes) if (groups.get(k)?.remotes.get(cluster) !== r) withdraw(r, sink);
    }
    this.groups = groups;
    this.services = nextServices;

    // Local pods of exported services also back the global hostname.
    for (const [name, a] of i.local.addresses) if (!out.has(name)) out.set(name, this.localCopies.apply(a, extraKeys));

    // Flat peers: real workloads with their own IPs; collisions are reported, never shadowing.
    for (const peer of i.peers) {
      if (peer.flat) {
        for (const pw of peer.data.workloads.values()) {
          const w = flatWorkload(i, this.groups, this.flatMemo, peer, pw);
          if (w) flatOut.push([w.workload.uid, w, peer.decl.cluster]);
        }
      }
    }
    const nextNodes = new Map<string, { sig: string; msg: AddressMsg }>();
    for (const peer of i.peers)
      if (peer.decl.nodePort || !peer.flat) emitGateways(i, peer, out, this.nodeMemo, nextNodes);
    this.nodeMemo = nextNodes;
    const { accepted, conflicts } = owners.admitFlat(flatOut, this.reported, onConflict);
    for (const [uid, a] of accepted) out.set(uid, a);
    if (this.reported.size > 10_000) this.reported.clear();
    return { addresses: new Map(out), conflicts, vips, remote: sink };
  }
}
