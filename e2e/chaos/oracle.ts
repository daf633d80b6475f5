import * as fs from 'node:fs';
import * as path from 'node:path';
import { systemClock } from '../../pkg/lifecycle';
import { createSilentLogger } from '../../pkg/log';
import { LocalRegistry, parseManifest } from '../../pkg/registry';
import { generateLocal, WorkloadStatus, type MeshContext, type LocalOutput } from '../../pkg/translate';
import { capacityBucket, exportedServices } from '../../pkg/peering';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION, type Wire } from '../../pkg/wire';

/**
 * The ground truth, computed from the registry FILES alone (never from the
 * daemon): a full, non-incremental generateLocal of each daemon's final
 * registry dir, plus what its two peers must contribute — one split-horizon
 * workload per service a peer exports (capacity = that peer's ready-pod
 * bucket) and one global service per exported hostname.
 */
export interface ClusterTruth {
  cluster: string;
  network: string;
  /** Local resources in the ztunnel's decoded form (canonical JSON). */
  addresses: Map<string, string>;
  authorizations: Map<string, string>;
  /** Exported services: "ns/name" -> ready-pod count. */
  exported: Map<string, number>;
}

export const DECODE = { longs: Number, enums: Number, bytes: Buffer, defaults: false, oneofs: true } as const;
export const SUFFIX = 'mesh.internal';

export function meshFor(cluster: string, network: string): MeshContext {
  return {
    clusterId: cluster,
    network,
    trustDomain: 'cluster.local',
    domainSuffix: 'cluster.local',
    rootNamespace: 'istio-system',
  };
}

/** Reads the registry dir the way FileSource does (one source per visible .yaml file) and translates it in full. */
export function truthFromFiles(wire: Wire, registryDir: string, cluster: string, network: string): ClusterTruth {
  const reg = new LocalRegistry({ logger: createSilentLogger(), clock: systemClock });
  for (const f of fs.readdirSync(registryDir).sort()) {
    if (f.startsWith('.') || !f.endsWith('.yaml')) continue;
    const parsed = parseManifest(fs.readFileSync(path.join(registryDir, f), 'utf8'), f);
    reg.replaceSource(`file:${f}`, parsed.objects);
  }
  const snapshot = reg.snapshot();
  const mesh = meshFor(cluster, network);
  const out: LocalOutput = generateLocal({ snapshot, mesh }).output;
  const addresses = new Map<string, string>();
  for (const [k, m] of out.addresses) addresses.set(k, canon(roundTrip(wire.Address, m)));
  const authorizations = new Map<string, string>();
  for (const [k, m] of out.authorizations) authorizations.set(k, canon(roundTrip(wire.Authorization, m)));
  // Ready counts per exported service, as the exporter counts them: local workloads listing the service, not UNHEALTHY.
  const exp = exportedServices(snapshot, mesh);
  const exported = new Map<string, number>();
  for (const e of exp.values()) exported.set(e.key, 0);
  for (const a of out.addresses.values()) {
    const w = (a as { workload?: { services?: Record<string, unknown>; status?: number } }).workload;
    if (!w?.services) continue;
    for (const k of Object.keys(w.services)) {
      const e = exp.get(k);
      if (e && w.status !== WorkloadStatus.UNHEALTHY) exported.set(e.key, exported.get(e.key)! + 1);
    }
  }
  return { cluster, network, addresses, authorizations, exported };
}

function roundTrip(t: Wire['Address'], m: unknown): Record<string, unknown> {
  return t.toObject(t.decode(t.encode(m as never).finish()), DECODE);
}

/** Stable JSON: sorted keys, empty containers dropped (proto3 cannot tell them from absent). */
export function canon(v: unknown): string {
  return JSON.stringify(norm(v));
}
function norm(v: unknown): unknown {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return `b:${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return v.map(norm);
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = norm((v as Record<string, unknown>)[k]);
      if (
        x === undefined ||
        (Array.isArray(x) && !x.length) ||
        (x && typeof x === 'object' && !Array.isArray(x) && !Object.keys(x).length)
      )
        continue;
      o[k] = x;
    }
    return o;
  }
  return v;
}

/** A held resource map in decoded form: name -> value. */
export type Held = ReadonlyMap<string, { value: Record<string, unknown> }>;

/** Local workloads in the global namespace also list the global hostname; the oracle compares the local part. */
function localPart(v: Record<string, unknown>): unknown {
  const w = v.workload as { services?: Record<string, unknown> } | undefined;
  if (!w?.services) return v;
  const services: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(w.services)) if (!k.endsWith(`.${SUFFIX}`)) services[k] = s;
  return { ...v, workload: { ...w, services } };
}

/**
 * Compares what a daemon serves (a fresh ztunnel's state) with the truth of
 * that daemon and its peers. Returns one line per mismatch.
 */
export function checkAgainstTruth(self: ClusterTruth, peers: ClusterTruth[], served: Map<string, Held>): string[] {
  const bad: string[] = [];
  const addr: Held = served.get(TYPE_ADDRESS) ?? new Map();
  const authz: Held = served.get(TYPE_AUTHORIZATION) ?? new Map();
  const tag = self.cluster;
  for (const [k, want] of self.addresses) {
    const got = addr.get(k);
    if (!got) bad.push(`${tag}: lost local address ${k}`);
    else if (canon(localPart(got.value)) !== want)
      bad.push(`${tag}: address ${k} differs: served ${canon(localPart(got.value))} want ${want}`);
  }
  // Imported: split-horizon workloads per peer-exported service, global services per exported hostname.
  const split = new Map<string, number>();
  const globals = new Set<string>();
  // Each peer's east-west gateway, as a Workload so ztunnel resolves network_gateway (shapes.ts peerGatewayWorkloads).
  const gateways = new Set<string>();
  for (const key of self.exported.keys()) globals.add(globalKey(key));
  for (const p of peers) {
    gateways.add(`${p.cluster}/NetworkGateway/istio-gateways/istio-remote-peer-${p.cluster}`);
    for (const [key, ready] of p.exported) {
      const [ns, name] = key.split('/') as [string, string];
      split.set(
        `${p.network}/SplitHorizonWorkload/istio-gateways/istio-remote-peer-${p.cluster}/${ns}/${name}.${ns}.${SUFFIX}`,
        capacityBucket(ready),
      );
      globals.add(globalKey(key));
    }
  }
  for (const [k, cap] of split) {
    const got = addr.get(k)?.value.workload as { capacity?: { value?: number }; status?: number } | undefined;
    if (!got) bad.push(`${tag}: lost imported workload ${k}`);
    else if ((got.capacity?.value ?? 0) !== cap)
      bad.push(`${tag}: imported ${k} capacity ${got.capacity?.value ?? 0} want ${cap}`);
    else if ((got.status === WorkloadStatus.UNHEALTHY) !== (cap === 0))
      bad.push(`${tag}: imported ${k} status ${got.status ?? 0} with capacity ${cap}`);
  }
  for (const k of globals) if (!addr.get(k)?.value.service) bad.push(`${tag}: lost global service ${k}`);
  for (const k of gateways) if (!addr.get(k)?.value.workload) bad.push(`${tag}: lost peer gateway ${k}`);
  for (const k of addr.keys()) {
    if (!self.addresses.has(k) && !split.has(k) && !globals.has(k) && !gateways.has(k))
      bad.push(`${tag}: ghost address ${k}`);
  }
  for (const [k, want] of self.authorizations) {
    const got = authz.get(k);
    if (!got) bad.push(`${tag}: lost policy ${k}`);
    else if (canon(got.value) !== want) bad.push(`${tag}: policy ${k} differs`);
  }
  for (const k of authz.keys()) if (!self.authorizations.has(k)) bad.push(`${tag}: ghost policy ${k}`);
  return bad;
}

const globalKey = (key: string): string => {
  const [ns, name] = key.split('/') as [string, string];
  return `${ns}/${name}.${ns}.${SUFFIX}`;
};

/** Held state of a long-lived ztunnel against a fresh one on the same daemon: no lost update, no ghost. */
export function compareHeld(
  tag: string,
  held: Map<string, Held>,
  fresh: Map<string, Held>,
  types: readonly string[],
): string[] {
  const bad: string[] = [];
  for (const t of types) {
    const h: Held = held.get(t) ?? new Map();
    const f: Held = fresh.get(t) ?? new Map();
    const short = t.slice(t.lastIndexOf('.') + 1);
    for (const [k, v] of f) {
      const x = h.get(k);
      if (!x) bad.push(`${tag}: ${short} ${k} missing (lost update)`);
      else if (canon(x.value) !== canon(v.value)) bad.push(`${tag}: ${short} ${k} stale (lost update)`);
    }
    for (const k of h.keys()) if (!f.has(k)) bad.push(`${tag}: ${short} ${k} ghost`);
  }
  return bad;
}
