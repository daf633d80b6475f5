/**
 * The stable /debug/peers shape, normalised from whatever the peering layer's
 * status() returns (its type is `unknown[]` at the daemon boundary). Condition
 * names follow the peering model (docs/design/peering-model.md, Peer status): Connected,
 * Synced, DataPlaneProgrammed; Solo's names (PeerConnected, PeeringSucceeded,
 * PeerDataPlaneProgrammed, with or without the gloo.solo.io/ prefix) and
 * plain booleans are accepted too.
 */
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface PeerCondition {
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string | null;
}

export interface PeerConflict {
  kind: string;
  key: string;
  /** Who holds `key` (first) and who was refused it (second); empty when the layer did not say. */
  owners: string[];
  reason: string;
}

export interface PeerReport {
  name: string;
  cluster: string;
  network: string;
  address: string;
  /** How imported data is reached: gateway | flat | nodeport ('' when not reported). */
  mode: string;
  conditions: { Connected: PeerCondition; Synced: PeerCondition; DataPlaneProgrammed: PeerCondition };
  lastSyncTime: string | null;
  /** Imported resources per type (short type name -> count). */
  resources: Record<string, number>;
  /** True when the data held for this peer is no longer being refreshed (disconnected but retained). */
  stale: boolean;
  /** Flat-mode address conflicts and other detected conflicts. */
  conflicts: PeerConflict[];
  /** Why the last peer stream ended, if it did. */
  lastTermination: { reason: string; message: string; at: string | null } | null;
  /** The peer's gateways (`<Gateway ns/name>|<address>`) and whether the data plane uses each. */
  gateways: { id: string; healthy: boolean; since: string | null }[];
}

type Obj = Record<string, unknown>;

const ALIASES: Record<keyof PeerReport['conditions'], readonly string[]> = {
  Connected: ['connected', 'peerconnected'],
  Synced: ['synced', 'peeringsucceeded', 'sync'],
  DataPlaneProgrammed: ['dataplaneprogrammed', 'peerdataplaneprogrammed', 'programmed'],
};

function canon(t: string): string {
  return t.replace(/^.*\//, '').toLowerCase();
}

function statusOf(v: unknown): ConditionStatus {
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') {
    const s = v.toLowerCase();
    if (s === 'true') return 'True';
    if (s === 'false') return 'False';
  }
  return 'Unknown';
}

function timeOf(v: unknown): string | null {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return new Date(v).toISOString();
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) return new Date(Date.parse(v)).toISOString();
  return null;
}

function condition(raw: unknown): PeerCondition {
  if (raw === undefined || raw === null)
    return { status: 'Unknown', reason: 'NotReported', message: '', lastTransitionTime: null };
  if (typeof raw !== 'object') return { status: statusOf(raw), reason: '', message: '', lastTransitionTime: null };
  const o = raw as Obj;
  return {
    status: statusOf(o.status),
    reason: typeof o.reason === 'string' ? o.reason : '',
    message: typeof o.message === 'string' ? o.message : '',
    lastTransitionTime: timeOf(o.lastTransitionTime ?? o.since ?? o.at),
  };
}

function findCondition(o: Obj, which: keyof PeerReport['conditions']): unknown {
  const names = ALIASES[which];
  const conds = o.conditions;
  if (Array.isArray(conds)) {
    const c: unknown = conds.find((x) => x && typeof x === 'object' && names.includes(canon(text((x as Obj).type))));
    if (c) return c;
  } else if (conds && typeof conds === 'object') {
    for (const [k, v] of Object.entries(conds as Obj)) if (names.includes(canon(k))) return v;
  }
  for (const [k, v] of Object.entries(o)) if (names.includes(k.toLowerCase())) return v;
  return undefined;
}

/** A scalar field as text; absent, null or a nested object (which would print as "[object Object]") is ''. */
function text(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint'
    ? String(v)
    : '';
}

function conflicts(v: unknown): PeerConflict[] {
  if (!Array.isArray(v)) return [];
  return v.map((c) => {
    if (typeof c === 'string') return { kind: '', key: '', owners: [], reason: c };
    const o = (c ?? {}) as Obj;
    return {
      kind: text(o.kind ?? o.type),
      key: text(o.key ?? o.address ?? o.name),
      owners: Array.isArray(o.owners) ? o.owners.map(String) : [],
      reason: text(o.reason ?? o.message),
    };
  });
}

/** Per-type counts: a `resources`/`counts` map, or the layer's top-level services/workloads/nodes numbers. */
function counts(o: Obj): Record<string, number> {
  const out: Record<string, number> = {};
  const v = o.resources ?? o.counts;
  if (v && typeof v === 'object') for (const [k, n] of Object.entries(v as Obj)) if (typeof n === 'number') out[k] = n;
  for (const k of ['services', 'workloads', 'nodes']) if (typeof o[k] === 'number') out[k] = o[k];
  return out;
}

function termination(v: unknown): PeerReport['lastTermination'] {
  if (!v || typeof v !== 'object') return null;
  const o = v as Obj;
  return { reason: text(o.reason), message: text(o.message), at: timeOf(o.at) };
}

export function normalisePeer(raw: unknown): PeerReport {
  const o = (raw && typeof raw === 'object' ? raw : {}) as Obj;
  const s = (k: string[]): string => {
    for (const x of k) if (typeof o[x] === 'string') return o[x];
    return '';
  };
  return {
    name: s(['name', 'peer', 'gateway', 'id']),
    cluster: s(['cluster', 'clusterId']),
    network: s(['network']),
    address: s(['address', 'target', 'endpoint']),
    mode: s(['mode']),
    conditions: {
      Connected: condition(findCondition(o, 'Connected')),
      Synced: condition(findCondition(o, 'Synced')),
      DataPlaneProgrammed: condition(findCondition(o, 'DataPlaneProgrammed')),
    },
    lastSyncTime: timeOf(o.lastSyncAt ?? o.lastSyncTime ?? o.lastSync),
    resources: counts(o),
    stale: o.stale === true,
    conflicts: conflicts(o.conflicts),
    lastTermination: termination(o.lastTermination),
    gateways: Array.isArray(o.gateways)
      ? o.gateways
          .filter((g): g is Obj => !!g && typeof g === 'object')
          .map((g) => ({ id: text(g.id), healthy: g.healthy !== false, since: timeOf(g.since) }))
      : [],
  };
}
