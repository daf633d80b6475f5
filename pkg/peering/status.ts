import type { PeerDecl, PeerDeclarations } from './core';
import type { PeerClientState } from './link';
import type { PeerPartition } from './state';
import type { Conflict } from './generate';

export type ConditionType = 'Connected' | 'Synced' | 'DataPlaneProgrammed';

export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  /** When status last changed (RFC 3339), as Kubernetes conditions carry it. */
  lastTransitionTime?: string;
}

export type { Conflict } from './generate';

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
  conflicts?: Conflict[];
  lastTermination?: { reason: string; message: string; at: string };
  nacks?: number;
  lastNack?: string;
  connects?: number;
  received?: number;
  /** Each gateway of the peer and whether the data plane uses it (health-checked when there are several). */
  gateways?: GatewayStatus[];
}

export interface GatewayStatus {
  /** `<gateway ns/name>|<address>` */
  id: string;
  healthy: boolean;
  /** When it last changed state (RFC 3339), if probed. */
  since?: string;
}

/**
 * Where the peer's data stands in local ztunnels: `acked` once the push that
 * followed a sync of this link was ACKed by every connected ztunnel;
 * `no-ztunnels` when synced but nobody is connected to hold it; `waiting`
 * while the ACK is outstanding; `never-synced` before the first sync.
 */
export type DataPlaneState = 'acked' | 'waiting' | 'no-ztunnels' | 'never-synced';

type C = Omit<Condition, 'type' | 'lastTransitionTime'>;

const cond = (status: Condition['status'], reason: string, message: string): C => ({ status, reason, message });

function dataPlaneCondition(
  decl: PeerDecl,
  flat: boolean,
  p: PeerPartition,
  conflicts: Conflict[],
  dp: DataPlaneState,
  gws: GatewayHealthView[],
): C {
  if (dp === 'never-synced')
    return cond('False', 'NotSynced', 'nothing programmed: the peer has not synced on this link');
  if (decl.nodePort && p.nodes.size === 0) {
    return cond(
      'False',
      'NoNodes',
      'peer sent no NodePort node workloads ' + '(is its east-west gateway in NodePort mode?)',
    );
  }
  if (flat && conflicts.length) {
    return cond('False', 'AddressConflict', `${conflicts.length} imported workloads collide with existing addresses`);
  }
  if (!flat && !decl.nodePort && gws.length > 1 && !gws.some((g) => g.healthy)) {
    return cond('False', 'NoHealthyGateway', `none of the ${gws.length} gateways passes its health check; all kept`);
  }
  if (dp === 'no-ztunnels') return cond('Unknown', 'NoZtunnels', 'synced; no local ztunnel is connected to program it');
  if (dp === 'waiting') return cond('False', 'Pending', 'synced; waiting for local ztunnels to ACK the push');
  const used = decl.dataGateways ?? decl.gateways ?? [];
  const declared = decl.gateways?.length ?? 1;
  let via: string;
  if (decl.nodePort) via = `${p.nodes.size} node addresses behind the NodePort gateway`;
  else if (flat) via = 'flat network: pods programmed directly';
  else if (declared > 1) {
    const list = used.map((g) => `${g.address.value}:${g.hbonePort}`).join(', ');
    via = `via ${used.length} of ${declared} gateways: ${list} (HBONE)`;
  } else via = `via ${decl.address.value}:${decl.hbonePort} (HBONE)`;
  return cond('True', 'Programmed', `ACKed by local ztunnels; ${via}`);
}

interface GatewayHealthView {
  id: string;
  healthy: boolean;
  since?: number;
}

export function peerStatus(
  decl: PeerDecl,
  flat: boolean,
  p: PeerPartition,
  s: PeerClientState,
  conflicts: Conflict[],
  dp: DataPlaneState,
  gws: GatewayHealthView[] = [],
): PeerStatus {
  const term = s.lastTermination;
  const stale = !s.synced && (p.lastSyncAt !== undefined || p.services.size > 0);
  const conditions: Condition[] = [
    {
      type: 'Connected',
      ...(s.connected
        ? cond('True', 'Connected', `xDS stream to ${s.endpoint ?? `${decl.address.value}:${decl.xdsPort}`} is up`)
        : {
            status: 'False',
            reason: term ? reasonName(term.reason) : 'Pending',
            message: term ? term.message : 'not connected to peer',
          }),
    },
    {
      type: 'Synced',
      ...(s.synced
        ? { status: 'True', reason: 'Synced', message: `initial sync complete (${p.services.size} services)` }
        : stale
          ? { status: 'False', reason: 'Stale', message: 'disconnected; serving last-known data until resync' }
          : { status: 'Unknown', reason: 'Pending', message: 'not yet synced' }),
    },
    { type: 'DataPlaneProgrammed', ...dataPlaneCondition(decl, flat, p, conflicts, dp, gws) },
  ];
  const out: PeerStatus = {
    gateway: decl.key,
    cluster: decl.cluster,
    network: decl.network,
    address: `${decl.address.value}:${decl.xdsPort}`,
    mode: decl.nodePort ? 'nodeport' : flat ? 'flat' : 'gateway',
    conditions,
    services: p.services.size,
    workloads: p.workloads.size,
    nodes: p.nodes.size,
    stale,
    conflicts,
    nacks: s.nacks,
    connects: s.connects,
    received: p.received,
  };
  if (p.lastSyncAt !== undefined) out.lastSyncTime = new Date(p.lastSyncAt).toISOString();
  if (term) out.lastTermination = { reason: term.reason, message: term.message, at: new Date(term.at).toISOString() };
  if (s.lastNack) out.lastNack = s.lastNack;
  if (gws.length) {
    out.gateways = gws.map((g) => {
      const v: GatewayStatus = { id: g.id, healthy: g.healthy };
      if (g.since !== undefined) v.since = new Date(g.since).toISOString();
      return v;
    });
  }
  return out;
}

function reasonName(r: string): string {
  return r
    .split('_')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
}

const all = (status: Condition['status'], reason: string, message: string): Condition[] =>
  (['Connected', 'Synced', 'DataPlaneProgrammed'] as const).map((type) => ({ type, status, reason, message }));

const why = (r?: string): string => (r ? ` (${r})` : '');

export function declarationStatus(d: PeerDeclarations): PeerStatus[] {
  return [
    ...d.invalid.map((i) => ({ gateway: i.key, cluster: i.cluster, conditions: all('False', 'Invalid', i.reason) })),
    ...d.self.map((k) => ({
      gateway: k,
      conditions: all('False', 'LocalCluster', 'the Gateway names the local cluster; ignored'),
    })),
    ...d.duplicates.map((x) => ({
      gateway: x.key,
      cluster: x.cluster,
      conditions: all(
        'False',
        'Duplicate',
        `cluster ${x.cluster} is already declared by ${x.kept}${why(x.reason)}; ignored`,
      ),
    })),
  ];
}

/**
 * Stamps lastTransitionTime: the time a condition's status was first seen
 * different from before (Kubernetes semantics: reason/message changes keep
 * it). The layer stamps at every state change of a peer, so the time is that
 * of the event, not of the read. Bounded by the declared Gateways (retain()).
 */
export class ConditionClock {
  private readonly seen = new Map<string, Map<ConditionType, { status: string; at: number }>>();

  stamp(key: string, conditions: Condition[], now: number): Condition[] {
    let m = this.seen.get(key);
    if (!m) this.seen.set(key, (m = new Map<ConditionType, { status: string; at: number }>()));
    for (const c of conditions) {
      const was = m.get(c.type);
      if (!was || was.status !== c.status) m.set(c.type, { status: c.status, at: now });
      c.lastTransitionTime = new Date(m.get(c.type)!.at).toISOString();
    }
    return conditions;
  }

  /** Forgets Gateways no longer reported. */
  retain(keys: ReadonlySet<string>): void {
    for (const k of this.seen.keys()) if (!keys.has(k)) this.seen.delete(k);
  }
}
