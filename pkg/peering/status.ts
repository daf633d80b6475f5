import type { PeerDecl, PeerDeclarations } from './declare';
import type { PeerClientState } from './client';
import type { PeerPartition } from './partition';

export interface Condition {
  type: 'Connected' | 'Synced' | 'DataPlaneProgrammed';
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/** Read-only view per peer (admin /debug/peers, `ambientd check`). */
export interface PeerStatus {
  gateway: string;
  cluster?: string;
  network?: string;
  address?: string;
  mode?: 'gateway' | 'flat' | 'nodeport';
  conditions: Condition[];
  lastSyncTime?: string;
  services?: number;
  workloads?: number;
  nodes?: number;
  stale?: boolean;
  conflicts?: string[];
  lastTermination?: { reason: string; message: string; at: string };
  nacks?: number;
  lastNack?: string;
  connects?: number;
  received?: number;
}

export function peerStatus(decl: PeerDecl, flat: boolean, p: PeerPartition, s: PeerClientState, conflicts: string[]): PeerStatus {
  const term = s.lastTermination;
  const stale = !s.synced && (p.lastSyncAt !== undefined || p.services.size > 0);
  const conditions: Condition[] = [
    s.connected
      ? { type: 'Connected', status: 'True', reason: 'Connected', message: `xDS stream to ${decl.address.value}:${decl.xdsPort} is up` }
      : { type: 'Connected', status: 'False', reason: term ? reasonName(term.reason) : 'Pending', message: term ? term.message : 'not connected to peer' },
    s.synced
      ? { type: 'Synced', status: 'True', reason: 'Synced', message: `initial sync complete (${p.services.size} services)` }
      : stale
        ? { type: 'Synced', status: 'False', reason: 'Stale', message: 'disconnected; serving last-known data until resync' }
        : { type: 'Synced', status: 'Unknown', reason: 'Pending', message: 'not yet synced' },
  ];
  if (decl.nodePort) {
    conditions.push(p.nodes.size > 0
      ? { type: 'DataPlaneProgrammed', status: 'True', reason: 'Programmed', message: `${p.nodes.size} node addresses behind the NodePort gateway` }
      : { type: 'DataPlaneProgrammed', status: 'False', reason: 'NoNodes', message: 'peer sent no NodePort node workloads (is its east-west gateway in NodePort mode?)' });
  } else if (flat) {
    conditions.push(conflicts.length
      ? { type: 'DataPlaneProgrammed', status: 'False', reason: 'AddressConflict', message: `${conflicts.length} imported workloads collide with existing addresses` }
      : { type: 'DataPlaneProgrammed', status: 'True', reason: 'Programmed', message: 'flat network: pods programmed directly' });
  } else {
    conditions.push({ type: 'DataPlaneProgrammed', status: 'True', reason: 'Programmed', message: `via ${decl.address.value}:${decl.hbonePort} (HBONE)` });
  }
  const out: PeerStatus = {
    gateway: decl.key, cluster: decl.cluster, network: decl.network, address: `${decl.address.value}:${decl.xdsPort}`,
    mode: decl.nodePort ? 'nodeport' : flat ? 'flat' : 'gateway', conditions,
    services: p.services.size, workloads: p.workloads.size, nodes: p.nodes.size, stale, conflicts, nacks: s.nacks, connects: s.connects, received: p.received,
  };
  if (p.lastSyncAt !== undefined) out.lastSyncTime = new Date(p.lastSyncAt).toISOString();
  if (term) out.lastTermination = { reason: term.reason, message: term.message, at: new Date(term.at).toISOString() };
  if (s.lastNack) out.lastNack = s.lastNack;
  return out;
}

function reasonName(r: string): string {
  return r.split('_').map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

const all = (status: Condition['status'], reason: string, message: string): Condition[] =>
  (['Connected', 'Synced', 'DataPlaneProgrammed'] as const).map((type) => ({ type, status, reason, message }));

export function declarationStatus(d: PeerDeclarations): PeerStatus[] {
  return [
    ...d.invalid.map((i) => ({ gateway: i.key, cluster: i.cluster, conditions: all('False', 'Invalid', i.reason) })),
    ...d.self.map((k) => ({ gateway: k, conditions: all('False', 'LocalCluster', 'the Gateway names the local cluster; ignored') })),
    ...d.duplicates.map((x) => ({ gateway: x.key, cluster: x.cluster, conditions: all('False', 'Duplicate', `cluster ${x.cluster} is already declared by ${x.kept}; ignored`) })),
  ];
}
