import { bytesToIp } from '../model';
import { decodeDeltaResponse } from '../wire';
import type { CacheView, WireView } from './views';

/** ztunnel's two type URLs (ztunnel src/xds/types.rs); admin does not import wire. */
export const ADDRESS_TYPE = 'type.googleapis.com/istio.workload.Address';
export const AUTHORIZATION_TYPE = 'type.googleapis.com/istio.security.Authorization';

type Obj = Record<string, unknown>;

/**
 * Converts what the cache serves into the JSON shape of ztunnel's own
 * `/config_dump` (GET :15000/config_dump; camelCase field names as in ztunnel's
 * local-config YAML and istioctl's ztunnel configdump types), so the two
 * can be diffed. Enum values use ztunnel's serde spellings.
 */
export interface ZtunnelDump {
  workloads: Obj[];
  services: Obj[];
  policies: Obj[];
}

const PROTOCOL = ['TCP', 'HBONE', 'LEGACY_ISTIO_MTLS'];
const STATUS = ['Healthy', 'Unhealthy'];
const NETWORK_MODE = ['Standard', 'HostNetwork'];
const WORKLOAD_TYPE = ['deployment', 'cronjob', 'pod', 'job'];
const SCOPE = ['Global', 'Namespace', 'WorkloadSelector'];
const ACTION = ['Allow', 'Deny'];
const LB_SCOPE = ['Unspecified', 'Region', 'Zone', 'Subzone', 'Node', 'Cluster', 'Network'];
const LB_MODE = ['Standard', 'Strict', 'Failover', 'Passthrough'];
const HEALTH_POLICY = ['OnlyHealthy', 'AllowAll'];
const IP_FAMILIES = ['Automatic', 'IPv4', 'IPv6', 'Dual'];
const VISIBILITY = ['Public', 'Namespace'];
const APP_TUNNEL = ['NONE', 'PROXY'];

const enumName = (table: readonly string[], v: unknown): string => table[Number(v ?? 0)] ?? String(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const ip = (b: unknown): string =>
  b instanceof Uint8Array && (b.length === 4 || b.length === 16)
    ? bytesToIp(b)
    : `<invalid ${b instanceof Uint8Array ? b.length : 0}-byte address>`;

function networkAddress(a: Obj): string {
  return `${str(a.network)}/${ip(a.address)}`;
}

function gateway(g: unknown): Obj | undefined {
  if (!g || typeof g !== 'object') return undefined;
  const o = g as Obj;
  let destination: string | undefined;
  if (o.address) destination = networkAddress(o.address as Obj);
  else if (o.hostname) destination = `${str((o.hostname as Obj).namespace)}/${str((o.hostname as Obj).hostname)}`;
  return { destination: destination ?? '', hboneMtlsPort: Number(o.hboneMtlsPort ?? 0) };
}

function portMap(ports: Obj[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of ports) out[String(Number(p.servicePort ?? 0))] = Number(p.targetPort ?? 0);
  return out;
}

/**
 * The ztunnel JSON for one Workload; trustDomain/serviceAccount/clusterId get ztunnel's defaults for empty
 * values: cluster.local, default, Kubernetes.
 */
export function workloadJson(w: Obj): Obj {
  const out: Obj = {
    uid: str(w.uid),
    workloadIps: ((w.addresses as unknown[]) ?? []).map(ip),
    protocol: enumName(PROTOCOL, w.tunnelProtocol),
    networkMode: enumName(NETWORK_MODE, w.networkMode),
    name: str(w.name),
    namespace: str(w.namespace),
    trustDomain: str(w.trustDomain) || 'cluster.local',
    serviceAccount: str(w.serviceAccount) || 'default',
    workloadName: str(w.workloadName),
    workloadType: enumName(WORKLOAD_TYPE, w.workloadType),
    canonicalName: str(w.canonicalName),
    canonicalRevision: str(w.canonicalRevision),
    clusterId: str(w.clusterId) || 'Kubernetes',
    node: str(w.node),
    network: str(w.network),
    status: enumName(STATUS, w.status),
    hostname: str(w.hostname),
    nativeTunnel: Boolean(w.nativeTunnel),
    authorizationPolicies: ((w.authorizationPolicies as string[]) ?? []).slice(),
    services: Object.keys((w.services as Obj) ?? {}).sort(),
    capacity: w.capacity && typeof w.capacity === 'object' ? Number((w.capacity as Obj).value ?? 0) : 1,
  };
  const wp = gateway(w.waypoint);
  if (wp) out.waypoint = wp;
  const ng = gateway(w.networkGateway);
  if (ng) out.networkGateway = ng;
  if (w.locality) {
    const l = w.locality as Obj;
    out.locality = { region: str(l.region), zone: str(l.zone), subzone: str(l.subzone) };
  }
  if (w.applicationTunnel) {
    const a = w.applicationTunnel as Obj;
    out.applicationTunnel = { protocol: enumName(APP_TUNNEL, a.protocol), ...(a.port ? { port: Number(a.port) } : {}) };
  }
  return out;
}

export function serviceJson(s: Obj): Obj {
  const vips: string[] = [];
  const cidrVips: string[] = [];
  for (const a of arr(s.addresses)) {
    const full = a.address instanceof Uint8Array ? a.address.length * 8 : 32;
    if (a.length !== undefined && a.length !== null && Number(a.length) !== full)
      cidrVips.push(`${networkAddress(a)}/${Number(a.length)}`);
    else vips.push(networkAddress(a));
  }
  const out: Obj = {
    name: str(s.name),
    namespace: str(s.namespace),
    hostname: str(s.hostname),
    vips,
    ports: portMap(arr(s.ports)),
    endpoints: {},
    subjectAltNames: ((s.subjectAltNames as string[]) ?? []).slice(),
    ipFamilies: enumName(IP_FAMILIES, s.ipFamilies),
    canonical: Boolean(s.canonical),
    visibility: enumName(VISIBILITY, s.visibility),
  };
  if (cidrVips.length) out.cidrVips = cidrVips;
  const wp = gateway(s.waypoint);
  if (wp) out.waypoint = wp;
  const ww = arr(s.weightedWaypoints);
  if (ww.length)
    out.weightedWaypoints = ww.map((x) => ({
      destination: gateway(x.destination)?.destination ?? '',
      weight: Number(x.weight ?? 0),
    }));
  if (s.loadBalancing) {
    const lb = s.loadBalancing as Obj;
    out.loadBalancer = {
      routingPreferences: ((lb.routingPreference as unknown[]) ?? []).map((x) => enumName(LB_SCOPE, x)),
      mode: enumName(LB_MODE, lb.mode),
      healthPolicy: enumName(HEALTH_POLICY, lb.healthPolicy),
    };
  }
  return out;
}

function stringMatch(m: Obj): Obj {
  if (m.exact !== undefined) return { Exact: m.exact };
  if (m.prefix !== undefined) return { Prefix: m.prefix };
  if (m.suffix !== undefined) return { Suffix: m.suffix };
  if (m.presence !== undefined) return { Presence: [] };
  return {};
}

const cidr = (a: Obj): string => `${ip(a.address)}/${Number(a.length ?? 0)}`;

function matchJson(m: Obj): Obj {
  const out: Obj = {};
  for (const f of ['namespaces', 'notNamespaces', 'principals', 'notPrincipals']) {
    const v = arr(m[f]);
    if (v.length) out[f] = v.map(stringMatch);
  }
  for (const f of ['sourceIps', 'notSourceIps', 'destinationIps', 'notDestinationIps']) {
    const v = arr(m[f]);
    if (v.length) out[f] = v.map(cidr);
  }
  for (const f of ['destinationPorts', 'notDestinationPorts']) {
    const v = (m[f] as unknown[]) ?? [];
    if (v.length) out[f] = v.map(Number);
  }
  for (const f of ['serviceAccounts', 'notServiceAccounts']) {
    const v = arr(m[f]);
    if (v.length) out[f] = v.map((x) => ({ namespace: str(x.namespace), serviceAccount: str(x.serviceAccount) }));
  }
  return out;
}

export function policyJson(p: Obj): Obj {
  return {
    name: str(p.name),
    namespace: str(p.namespace),
    scope: enumName(SCOPE, p.scope),
    action: enumName(ACTION, p.action),
    // rules -> clauses -> matches: ztunnel's names; istio's proto says groups -> rules -> matches, same wire.
    rules: arr(p.rules).map((r) => arr(r.clauses).map((c) => arr(c.matches).map(matchJson))),
    dryRun: Boolean(p.dryRun),
  };
}

/** Decodes one cache frame (DeltaDiscoveryResponse field 2 = Resource) into its payload object. */
function decodeFrame(wire: WireView, type: 'Address' | 'Authorization', frame: Uint8Array): Obj | undefined {
  const value = decodeDeltaResponse(wire, frame).resources[0]?.resource?.value;
  if (!value) return undefined;
  const T = wire[type];
  return T.toObject(T.decode(value), { enums: Number, longs: Number, defaults: false, oneofs: false });
}

/**
 * Builds the dump from the cache entries of the two ztunnel types, optionally
 * restricted to a set of names (a non-wildcard subscription). Service
 * endpoints are derived the way ztunnel derives them: from each workload's
 * `services` map (key "ns/hostname" -> that workload's port list).
 */
export function buildConfigDump(wire: WireView, cache: CacheView, names?: ReadonlySet<string>): ZtunnelDump {
  const workloads: Obj[] = [];
  const services = new Map<string, Obj>();
  const rawWorkloads: Obj[] = [];
  for (const e of cache.entries(ADDRESS_TYPE)) {
    if (names && !names.has(e.name)) continue;
    const a = decodeFrame(wire, 'Address', e.frame);
    if (a?.workload) {
      rawWorkloads.push(a.workload as Obj);
      workloads.push(workloadJson(a.workload as Obj));
    } else if (a?.service) {
      const s = a.service as Obj;
      services.set(`${str(s.namespace)}/${str(s.hostname)}`, serviceJson(s));
    }
  }
  for (const w of rawWorkloads) {
    for (const [key, pl] of Object.entries((w.services as Record<string, Obj>) ?? {})) {
      const svc = services.get(key);
      if (!svc) continue;
      (svc.endpoints as Obj)[str(w.uid)] = {
        workloadUid: str(w.uid),
        service: key,
        port: portMap(arr(pl.ports)),
        status: enumName(STATUS, w.status),
      };
    }
  }
  const policies: Obj[] = [];
  for (const e of cache.entries(AUTHORIZATION_TYPE)) {
    if (names && !names.has(e.name)) continue;
    const p = decodeFrame(wire, 'Authorization', e.frame);
    if (p) policies.push(policyJson(p));
  }
  const by =
    (k: (o: Obj) => string) =>
    (a: Obj, b: Obj): number =>
      k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0;
  workloads.sort(by((w) => str(w.uid)));
  const svcList = [...services.values()].sort(by((s) => `${str(s.namespace)}/${str(s.hostname)}`));
  policies.sort(by((p) => `${str(p.namespace)}/${str(p.name)}`));
  return { workloads, services: svcList, policies };
}
