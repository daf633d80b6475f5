import { serviceHostname } from '../../translate';
import type { AddressMsg, ServiceMsg, WorkloadMsg } from '../../translate';
import type { PeerWorkloadMsg } from '../core';
import { type Group, type Remote, builtUids } from './merge-groups';
import type { MergeInput, PeerView, RemoteChanges } from './merge-types';
import {
  capacityShare,
  endpointGateways,
  flatPodWorkload,
  nodeGatewayAddresses,
  peerGatewayWorkloads,
  splitHorizon,
  splitHorizonUid,
} from './shapes';

/** Names one global service produces (its hostname, the keys its endpoints list, and the service entries). */
export interface GlobalNames {
  host: string;
  svcKeys: string[];
  gsig: string;
  takeoverHost?: string;
  serviceKeys: string[];
}

/** A memoised service message with the JSON signature it was built from. */
export type ServiceMemo = Map<string, { sig: string; msg: { service: ServiceMsg } }>;

export function globalNames(i: MergeInput, g: Group): GlobalNames {
  const host = `${g.name}.${g.ns}.${i.suffix}`;
  const takeoverHost = g.takeover ? serviceHostname(g.name, g.ns, i.mesh.domainSuffix) : undefined;
  const globalKey = `${g.ns}/${host}`;
  const svcKeys = [globalKey];
  if (takeoverHost) svcKeys.push(`${g.ns}/${takeoverHost}`);
  const serviceKeys = [globalKey];
  if (takeoverHost && !i.snapshot.services.has(`${g.ns}/${g.name}`)) serviceKeys.push(`${g.ns}/${takeoverHost}`);
  return { host, svcKeys, gsig: svcKeys.join(','), takeoverHost, serviceKeys };
}

/**
 * One peer's split-horizon endpoint of a global service, built only when its
 * inputs changed; the message goes to `sink` and is not kept.
 */
export function emitRemote(i: MergeInput, r: Remote, n: GlobalNames, sink: RemoteChanges): void {
  const { peer, fs } = r;
  if (r.builtFs === fs && r.builtDecl === peer.decl && r.builtGsig === n.gsig && r.builtHost === n.host) return;
  const was = builtUids(r);
  r.builtFs = fs;
  r.builtDecl = peer.decl;
  r.builtGsig = n.gsig;
  r.builtHost = r.builtHost === n.host ? r.builtHost : n.host;
  const { host, svcKeys } = n;
  // One endpoint per (healthy) gateway of the peer, the peer's capacity shared between them.
  const gws = endpointGateways(peer.decl);
  const share = capacityShare(fs.capacity ?? 0, gws.length);
  const now = new Set<string>();
  for (const gw of gws) {
    const uid = splitHorizonUid(peer.decl, fs.namespace, host, gw);
    now.add(uid);
    sink.changed.set(uid, () => ({ workload: splitHorizon(i, peer, fs, host, svcKeys, gw, share) }));
  }
  for (const u of was) if (!now.has(u)) sink.removed.add(u);
}

/**
 * Puts service `s` under `key` into `next` and `out`, reusing the message of `prev` when its
 * content is unchanged (memoised services keep their identity). Returns `key`.
 */
export function keepService(
  prev: ServiceMemo,
  next: ServiceMemo,
  out: Map<string, AddressMsg>,
  key: string,
  s: ServiceMsg,
): string {
  const sig = JSON.stringify(s);
  const old = prev.get(key);
  const m = old && old.sig === sig ? old : { sig, msg: { service: s } };
  next.set(key, m);
  out.set(key, m.msg);
  return key;
}

/** A flat peer's pod as a local workload, memoised per PeerWorkload object in `memo`. */
export function flatWorkload(
  i: MergeInput,
  groups: ReadonlyMap<string, Group>,
  memo: WeakMap<PeerWorkloadMsg, { sig: string; msg: { workload: WorkloadMsg } }>,
  peer: PeerView,
  pw: PeerWorkloadMsg,
): { workload: WorkloadMsg } | undefined {
  // A taken-over service's pods also back its cluster.local name, as network peers' endpoints do (splitHorizon).
  const takeover = (ns: string, name: string): string[] =>
    groups.get(`${ns}/${name}`)?.takeover ? [`${ns}/${serviceHostname(name, ns, i.mesh.domainSuffix)}`] : [];
  const keys: string[] = [];
  for (const k of Object.keys(pw.services ?? {}).sort()) {
    const [ns, name] = k.split('/') as [string, string];
    keys.push(`${ns}/${name}.${ns}.${i.suffix}`, ...takeover(ns, name));
  }
  const sig = `${peer.decl.cluster}|${i.mesh.network}|${JSON.stringify(peer.decl.locality ?? {})}|${keys.join(',')}`;
  const prev = memo.get(pw);
  if (prev && prev.sig === sig) return prev.msg;
  const msg = { workload: flatPodWorkload(pw, peer.decl, i.mesh.network, i.suffix, takeover) };
  memo.set(pw, { sig, msg });
  return msg;
}

/**
 * A peer's gateways as ztunnel resolves network_gateway, memoised by content (`prev` → `next`): NodePort
 * mode, the node-gateway service and node workloads; address or hostname mode, one workload per gateway address.
 */
export function emitGateways(
  i: MergeInput,
  peer: PeerView,
  out: Map<string, AddressMsg>,
  prev: ReadonlyMap<string, { sig: string; msg: AddressMsg }>,
  next: Map<string, { sig: string; msg: AddressMsg }>,
): void {
  const addresses: Iterable<[string, AddressMsg]> = peer.decl.nodePort
    ? nodeGatewayAddresses(peer.decl, peer.data.nodes.values(), i.mesh.rootNamespace, i.suffix)
    : peerGatewayWorkloads(peer.decl).map(([key, w]): [string, AddressMsg] => [key, { workload: w }]);
  for (const [key, a] of addresses) {
    const sig = JSON.stringify(a);
    const old = prev.get(key);
    const m = old && old.sig === sig ? old : { sig, msg: a };
    next.set(key, m);
    out.set(key, m.msg);
  }
}
