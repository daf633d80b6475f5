import type { PeerDecl } from '../core';
import type { ExportedService } from './export';
import type { PeerView, RemoteChanges } from './merge-types';
import { endpointGateways, splitHorizonUid } from './shapes';
import type { FederatedServiceMsg } from '../core';

/*
 * The merger's per-global-service state (merge.ts): a Group of Remotes, one per peer exporting
 * the service. Remotes enter and leave a group only through setRemote / dropRemote, which keep
 * the group's count of distinct FederatedService objects (Group.kinds) that lets the merger
 * summarise N equal copies as one.
 */

/**
 * One peer's copy of a global service, and what its split-horizon workload was
 * last built from: the memo is these fields, so an unchanged (fs, decl, global
 * keys) triple builds nothing. The workload's uid is not kept: it is a function
 * of what it was built from (builtUid), and the cache reads names from its
 * frames, so no copy of the 200k uids (~115 B each at 2,000 peers) stays on the heap.
 */
export interface Remote {
  peer: PeerView;
  fs: FederatedServiceMsg;
  builtFs?: FederatedServiceMsg;
  builtDecl?: PeerDecl;
  builtGsig?: string;
  /** The global hostname it was built under (one string per global service, shared). */
  builtHost?: string;
}

/** The uids of the split-horizon workloads (one per gateway) a remote currently serves. */
export function builtUids(r: Remote): string[] {
  if (!r.builtFs || !r.builtDecl || r.builtHost === undefined) return [];
  const { builtDecl: d, builtFs: fs, builtHost: host } = r;
  return endpointGateways(d).map((gw) => splitHorizonUid(d, fs.namespace, host, gw));
}

/**
 * Every field in the literal: V8 then keeps them in the object. Assigned
 * later, the memo fields went to a separate property array (heap snapshot at
 * 400 peers: 60 B more per remote, 12 MiB at 2,000 peers x 100 services).
 */
function newRemote(peer: PeerView, fs: FederatedServiceMsg): Remote {
  return { peer, fs, builtFs: undefined, builtDecl: undefined, builtGsig: undefined, builtHost: undefined };
}

/** The remote of a (global service, peer) with its current inputs; an existing one keeps its memo. */
export function adopt(r: Remote | undefined, peer: PeerView, fs: FederatedServiceMsg): Remote {
  if (!r) return newRemote(peer, fs);
  r.peer = peer;
  r.fs = fs;
  return r;
}

/** Its workload is no longer served: removed from ztunnels, and the memo forgotten (a later build starts afresh). */
export function withdraw(r: Remote, sink: RemoteChanges): void {
  for (const uid of builtUids(r)) sink.removed.add(uid);
  r.builtFs = r.builtDecl = r.builtGsig = r.builtHost = undefined;
}

export interface Group {
  ns: string;
  name: string;
  local?: ExportedService;
  /** By peer cluster; emitted in cluster order. Changed only through setRemote / dropRemote. */
  remotes: Map<string, Remote>;
  takeover: boolean;
  /** Remote clusters in order, cached until the set of remotes changes (not when their data does). */
  order?: string[];
  /** How many remotes hold each distinct FederatedService object (StringPool.share dedupes equal content). */
  kinds: Map<FederatedServiceMsg, number>;
}

function tally(g: Group, fs: FederatedServiceMsg, d: number): void {
  const n = (g.kinds.get(fs) ?? 0) + d;
  if (n > 0) g.kinds.set(fs, n);
  else g.kinds.delete(fs);
}

/** The remote of `cluster` with these inputs (an existing one keeps its memo), counted in `kinds`. */
export function setRemote(
  g: Group,
  cluster: string,
  prev: Remote | undefined,
  peer: PeerView,
  fs: FederatedServiceMsg,
): void {
  const cur = g.remotes.get(cluster);
  if (cur) tally(g, cur.fs, -1); // before adopt() overwrites cur.fs (prev may be cur)
  g.remotes.set(cluster, adopt(prev, peer, fs));
  tally(g, fs, 1);
}

export function dropRemote(g: Group, cluster: string): void {
  const cur = g.remotes.get(cluster);
  if (!cur) return;
  tally(g, cur.fs, -1);
  g.remotes.delete(cluster);
}
