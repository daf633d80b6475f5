import * as net from 'node:net';
import type { AddressMsg, LoadBalancingMsg, LocalityMsg, ServiceMsg, WorkloadMsg } from '../translate';
import { LbMode, LbScope, WorkloadStatus } from '../translate';
import { bytesToIp } from '../model';
import type { RefusalReason } from './refusals';

/**
 * What the gateway routes to, rebuilt as an immutable table from the xDS
 * state after each change (one owner: the catalog; the listener only reads
 * the current table). Pure functions, no I/O.
 */
export interface Endpoint {
  readonly uid: string;
  /** The pod IP the destination ztunnel accepts on: it takes the socket's local address as the workload. */
  readonly ip: string;
  readonly healthy: boolean;
  readonly locality?: LocalityMsg;
}

export interface Route {
  /** The global hostname (<svc>.<ns>.<discovery suffix>). */
  readonly hostname: string;
  readonly namespace: string;
  readonly ports: ReadonlySet<number>;
  readonly loadBalancing?: LoadBalancingMsg;
  readonly endpoints: readonly Endpoint[];
}

export interface RouteContext {
  /** The gateway's network; '' = any workload without a network gateway. */
  readonly network: string;
  readonly clusterId: string;
  readonly domainSuffix: string;
  readonly discoverySuffix: string;
}

export type Resolution =
  { ok: true; route: Route; port: number; host: string } | { ok: false; reason: RefusalReason; host?: string };

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * Splits a CONNECT authority into host and port, as ztunnel does
 * (src/proxy.rs: a socket address first, else host and port both
 * required): an IP authority is refused here because the gateway forwards by
 * service name only.
 */
export function parseAuthority(
  authority: string | undefined,
): { host: string; port: number } | { reason: RefusalReason } {
  if (!authority) return { reason: 'bad_authority' };
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(authority);
  if (!m) return { reason: net.isIP(authority.replace(/^\[|\]$/g, '')) ? 'ip_authority' : 'bad_authority' };
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return { reason: 'bad_authority' };
  const host = m[1]!.replace(/^\[|\]$/g, '').toLowerCase();
  if (net.isIP(host)) return { reason: 'ip_authority' };
  if (!DNS_NAME.test(host)) return { reason: 'bad_authority' };
  return { host, port };
}

export class RouteTable {
  static readonly EMPTY = new RouteTable(new Map(), new Map(), new Set());

  constructor(
    /** Global hostname → route. */
    readonly routes: ReadonlyMap<string, Route>,
    /** <svc>.<ns>.svc.<domain suffix> → global hostname of the same service. */
    private readonly aliases: ReadonlyMap<string, string>,
    /** Hostnames of services known here but not exported by this cluster. */
    private readonly unexported: ReadonlySet<string>,
  ) {}

  resolve(authority: string | undefined): Resolution {
    const a = parseAuthority(authority);
    if ('reason' in a) return { ok: false, reason: a.reason };
    const global = this.aliases.get(a.host) ?? a.host;
    const route = this.routes.get(global);
    if (!route) {
      return { ok: false, reason: this.unexported.has(a.host) ? 'not_exported' : 'unknown_host', host: a.host };
    }
    if (!route.ports.has(a.port)) return { ok: false, reason: 'unknown_port', host: a.host };
    return { ok: true, route, port: a.port, host: a.host };
  }
}

const isWorkload = (a: AddressMsg): a is { workload: WorkloadMsg } => 'workload' in a && a.workload !== undefined;

/** One build of the table from every Address resource the daemon sent. */
export function buildRouteTable(addresses: Iterable<AddressMsg>, ctx: RouteContext): RouteTable {
  const services = new Map<string, ServiceMsg>(); // ns/hostname → service
  const endpoints = new Map<string, Endpoint[]>(); // ns/global hostname → local endpoints
  const globalSuffix = `.${ctx.discoverySuffix}`;
  for (const a of addresses) {
    if (!isWorkload(a)) {
      const s = a.service;
      if (s.hostname && s.namespace !== undefined) services.set(`${s.namespace}/${s.hostname}`, s);
      continue;
    }
    const w = a.workload;
    if (!isLocalEndpoint(w, ctx)) continue;
    const ip = bytesToIp(w.addresses![0]!);
    const healthy = (w.status ?? WorkloadStatus.HEALTHY) === WorkloadStatus.HEALTHY;
    const ep: Endpoint = { uid: w.uid, ip, healthy, locality: w.locality };
    for (const key of Object.keys(w.services ?? {})) {
      if (!key.endsWith(globalSuffix)) continue;
      let l = endpoints.get(key);
      if (!l) endpoints.set(key, (l = []));
      l.push(ep);
    }
  }
  const routes = new Map<string, Route>();
  const aliases = new Map<string, string>();
  const unexported = new Set<string>();
  for (const [key, s] of services) {
    const host = s.hostname!.toLowerCase();
    const eps = endpoints.get(key);
    if (!host.endsWith(globalSuffix) || !eps) {
      // A local-only service, or a global one this cluster does not back (imported from peers only).
      unexported.add(host);
      continue;
    }
    const ns = s.namespace ?? '';
    const ports = new Set((s.ports ?? []).map((p) => p.servicePort ?? 0).filter((p) => p > 0));
    const r: Route = {
      hostname: host,
      namespace: ns,
      ports,
      endpoints: eps,
      ...(s.loadBalancing ? { loadBalancing: s.loadBalancing } : {}),
    };
    routes.set(host, r);
    const name = host.slice(0, host.length - globalSuffix.length - ns.length - 1);
    if (name && host === `${name}.${ns}${globalSuffix}`) aliases.set(`${name}.${ns}.svc.${ctx.domainSuffix}`, host);
  }
  for (const alias of aliases.keys()) unexported.delete(alias);
  return new RouteTable(routes, aliases, unexported);
}

/** A workload of this cluster and network with an address: not a split-horizon endpoint or a peer's pod. */
function isLocalEndpoint(w: WorkloadMsg, ctx: RouteContext): boolean {
  if (!w.addresses?.length || w.networkGateway) return false;
  if (ctx.network && (w.network ?? '') !== ctx.network) return false;
  if (w.clusterId && ctx.clusterId && w.clusterId !== ctx.clusterId) return false;
  return true;
}

/** "region/zone/subzone" → LocalityMsg. */
export function parseLocality(s: string): LocalityMsg | undefined {
  if (!s) return undefined;
  const [region, zone, subzone] = s.split('/');
  const l: LocalityMsg = {};
  if (region) l.region = region;
  if (zone) l.zone = zone;
  if (subzone) l.subzone = subzone;
  return l;
}

/**
 * How many of the service's routing preferences, in order, an endpoint shares
 * with the gateway (ztunnel's own ranking, src/state.rs load_balance). NETWORK
 * and CLUSTER always match: every endpoint here is in the gateway's.
 */
function rank(ep: Endpoint, prefs: readonly number[], here: LocalityMsg | undefined): number {
  let n = 0;
  for (const p of prefs) {
    let same: boolean;
    switch (p) {
      case LbScope.NETWORK:
      case LbScope.CLUSTER:
        same = true;
        break;
      case LbScope.REGION:
        same = !!here?.region && ep.locality?.region === here.region;
        break;
      case LbScope.ZONE:
        same = !!here?.zone && ep.locality?.zone === here.zone;
        break;
      case LbScope.SUBZONE:
        same = !!here?.subzone && ep.locality?.subzone === here.subzone;
        break;
      default:
        same = false; // NODE: the gateway is on no workload node
    }
    if (!same) break;
    n++;
  }
  return n;
}

/**
 * Picks one healthy endpoint: the service's load balancing first (STRICT keeps
 * only endpoints matching every preference, FAILOVER the best-ranked), then
 * the fewest open tunnels (LEAST_REQUEST, the default istio leaves on the
 * Envoy gateway's double-HBONE cluster: cluster_traffic_policy.go), ties broken at random.
 */
export function pickEndpoint(
  route: Route,
  here: LocalityMsg | undefined,
  active: (uid: string) => number,
  random: () => number = Math.random,
): Endpoint | undefined {
  let pool = route.endpoints.filter((e) => e.healthy);
  const lb = route.loadBalancing;
  const prefs = lb?.routingPreference ?? [];
  if (pool.length && prefs.length && lb?.mode !== LbMode.PASSTHROUGH) {
    const ranks = pool.map((e) => rank(e, prefs, here));
    if (lb?.mode === LbMode.STRICT) pool = pool.filter((_, i) => ranks[i] === prefs.length);
    else {
      const best = Math.max(...ranks);
      pool = pool.filter((_, i) => ranks[i] === best);
    }
  }
  if (pool.length === 0) return undefined;
  let least = Infinity;
  let ties: Endpoint[] = [];
  for (const e of pool) {
    const n = active(e.uid);
    if (n < least) {
      least = n;
      ties = [e];
    } else if (n === least) ties.push(e);
  }
  return ties[Math.min(ties.length - 1, Math.floor(random() * ties.length))];
}
