import * as fs from 'node:fs';
import { LOG_LEVEL_OPTION, type OptionSpec } from './schema';
import {
  ConfigError,
  checkTrustBundleFiles,
  deepFreeze,
  isLoopbackListen,
  resolveConfig,
  validListen,
  type LoadInput,
} from './load';

/**
 * `ambientd eastwest`: the east-west gateway's own slice of settings (one
 * process per gateway). Env names follow ztunnel's where one exists
 * (ztunnel src/config.rs: XDS_ADDRESS, CA_ADDRESS, XDS_ROOT_CA, AUTH_TOKEN,
 * ALT_XDS_HOSTNAME, CLUSTER_ID, NETWORK), then AMBIENTD_EASTWEST_*.
 */
export interface EastwestConfig {
  readonly clusterId: string;
  /** The gateway's network: only workloads of this network are endpoints. */
  readonly network: string;
  readonly trustDomain: string;
  readonly domainSuffix: string;
  readonly discoverySuffix: string;
  /** ns/sa of the gateway's own identity (its certificate and the token's account). */
  readonly identity: string;
  /** region/zone/subzone of the gateway, for services that prefer close endpoints. */
  readonly locality: string;
  /** host:port addresses the HBONE port listens on (the NodePort form adds the node address and port). */
  readonly listen: readonly string[];
  readonly xds: {
    readonly address: string;
    readonly caAddress: string;
    /** PEM file: roots that sign the daemon's serving certificate. */
    readonly rootCa: string;
    readonly serverName: string;
    /** File holding the bearer token (re-read for every CA call and xDS connect). */
    readonly authToken: string;
  };
  /** Requested lifetime of the gateway's certificate (ms); renewed at half of the granted lifetime. */
  readonly certTtl: number;
  /** Peer trust domain → PEM roots: callers from these trust domains are accepted too. */
  readonly trustBundles: Readonly<Record<string, string>>;
  readonly limits: {
    readonly maxConnections: number;
    readonly maxTunnels: number;
    readonly maxConcurrentStreams: number;
    /** ms */
    readonly handshakeTimeout: number;
    /** ms */
    readonly dialTimeout: number;
    /** ms */
    readonly idleTimeout: number;
    /** ms */
    readonly sessionIdleTimeout: number;
  };
  readonly admin: { readonly listen: string; readonly debugListen: string };
  readonly log: { readonly level: string };
  /** ms */
  readonly drainDeadline: number;
}

export const EASTWEST_OPTIONS: readonly OptionSpec[] = [
  {
    path: 'clusterId',
    kind: 'string',
    default: 'Kubernetes',
    env: ['CLUSTER_ID'],
    help: 'Cluster id of the local daemon (sent as the clusterid header; local endpoints carry it).',
  },
  {
    path: 'network',
    kind: 'string',
    default: '',
    env: ['NETWORK'],
    help:
      "The gateway's network: endpoints are the workloads of this network (empty: workloads without a " +
      'network gateway).',
  },
  {
    path: 'trustDomain',
    kind: 'string',
    default: 'cluster.local',
    env: ['TRUST_DOMAIN'],
    help: "Local SPIFFE trust domain (the certificate's and accepted callers').",
  },
  {
    path: 'domainSuffix',
    kind: 'string',
    default: 'cluster.local',
    env: ['DOMAIN_SUFFIX', 'CLUSTER_DOMAIN'],
    help: 'Kubernetes DNS suffix: <svc>.<ns>.svc.<suffix> authorities resolve to the exported service.',
  },
  {
    path: 'discoverySuffix',
    kind: 'string',
    default: 'mesh.internal',
    env: ['PEERING_DISCOVERY_SUFFIX'],
    help: 'Suffix of global hostnames (<svc>.<ns>.<suffix>).',
  },
  {
    path: 'identity',
    kind: 'string',
    default: 'istio-system/istio-eastwest',
    env: ['AMBIENTD_EASTWEST_IDENTITY'],
    help: 'ns/sa of the gateway; the token must be for this account.',
  },
  {
    path: 'locality',
    kind: 'string',
    default: '',
    env: ['AMBIENTD_EASTWEST_LOCALITY'],
    help: 'region/zone/subzone of the gateway (services with PreferClose/PreferRegion pick endpoints near it).',
  },
  {
    path: 'listen',
    kind: 'list',
    default: ['0.0.0.0:15008'],
    env: ['AMBIENTD_EASTWEST_LISTEN'],
    help: 'HBONE listen addresses (comma-separated); add <node-ip>:<node-port> for the NodePort form.',
  },
  {
    path: 'xds.address',
    kind: 'string',
    default: '127.0.0.1:15012',
    env: ['XDS_ADDRESS'],
    help: "The local daemon's xDS address (host:port or https://host:port).",
  },
  {
    path: 'xds.caAddress',
    kind: 'string',
    default: '',
    env: ['CA_ADDRESS'],
    help: "The local daemon's CA address; empty = xds.address.",
  },
  {
    path: 'xds.rootCa',
    kind: 'string',
    default: '',
    env: ['XDS_ROOT_CA', 'CA_ROOT_CA'],
    help:
      "PEM file with the roots of the daemon's serving certificate (the mesh root: " + '<stateDir>/ca/root-cert.pem).',
  },
  {
    path: 'xds.serverName',
    kind: 'string',
    default: 'istiod.istio-system.svc',
    env: ['ALT_XDS_HOSTNAME', 'ALT_CA_HOSTNAME'],
    help: "DNS name checked on the daemon's serving certificate.",
  },
  {
    path: 'xds.authToken',
    kind: 'string',
    default: '',
    env: ['AUTH_TOKEN'],
    help:
      "File holding the gateway's service-account token (ambientd token create --namespace istio-system " +
      '--service-account istio-eastwest).',
  },
  {
    path: 'certTtl',
    kind: 'duration',
    default: 24 * 3600_000,
    env: ['SECRET_TTL'],
    help: 'Requested certificate lifetime; renewed at half of the granted lifetime.',
  },
  {
    path: 'trustBundles',
    kind: 'map',
    default: {},
    env: ['AMBIENTD_PEERING_TRUST_BUNDLES'],
    help: 'Roots per peer trust domain: <trust domain>=<PEM file>; callers of these trust domains are accepted.',
  },
  {
    path: 'limits.maxConnections',
    kind: 'int',
    default: 4096,
    min: 1,
    env: ['AMBIENTD_EASTWEST_MAX_CONNECTIONS'],
    help: 'Open TCP connections on the HBONE port (more are closed at accept).',
  },
  {
    path: 'limits.maxTunnels',
    kind: 'int',
    default: 16384,
    min: 1,
    env: ['AMBIENTD_EASTWEST_MAX_TUNNELS'],
    help: 'Open tunnels (CONNECT streams) across all connections; more are answered 503.',
  },
  {
    path: 'limits.maxConcurrentStreams',
    kind: 'int',
    default: 100,
    min: 100,
    max: 10000,
    env: ['AMBIENTD_EASTWEST_MAX_STREAMS'],
    help: 'HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS per connection (ztunnel packs up to 100).',
  },
  {
    path: 'limits.handshakeTimeout',
    kind: 'duration',
    default: 10_000,
    env: ['AMBIENTD_EASTWEST_HANDSHAKE_TIMEOUT'],
    help: 'TCP accept to completed TLS handshake; slower connections are closed.',
  },
  {
    path: 'limits.dialTimeout',
    kind: 'duration',
    default: 10_000,
    env: ['AMBIENTD_EASTWEST_DIAL_TIMEOUT'],
    help: 'TCP connect to <endpoint>:15008 (ztunnel uses 10 s); then 503.',
  },
  {
    path: 'limits.idleTimeout',
    kind: 'duration',
    default: 3_600_000,
    env: ['AMBIENTD_EASTWEST_IDLE_TIMEOUT'],
    help: 'A tunnel with no bytes either way for this long is closed (Envoy tcp_proxy default 1 h).',
  },
  {
    path: 'limits.sessionIdleTimeout',
    kind: 'duration',
    default: 600_000,
    env: ['AMBIENTD_EASTWEST_SESSION_IDLE_TIMEOUT'],
    help:
      'An HTTP/2 connection without a tunnel for this long gets GOAWAY (ztunnel releases unused ones after ' +
      '5 min).',
  },
  {
    path: 'admin.listen',
    kind: 'string',
    default: '0.0.0.0:15020',
    env: ['AMBIENTD_EASTWEST_ADMIN_LISTEN'],
    help: 'GET /metrics (Prometheus) and /healthz/ready.',
  },
  {
    path: 'admin.debugListen',
    kind: 'string',
    default: '127.0.0.1:15000',
    env: ['AMBIENTD_EASTWEST_DEBUG_LISTEN'],
    help: 'GET /debug/tunnels and /debug/routes; must be loopback.',
  },
  LOG_LEVEL_OPTION,
  {
    path: 'drainDeadline',
    kind: 'duration',
    default: 30_000,
    env: ['TERMINATION_DRAIN_DURATION'],
    help: 'On SIGTERM: no new tunnels; open ones may finish until this deadline, then they are closed.',
  },
];

/** defaults < file < env < flags, every problem listed; the result is deep-frozen. */
export function loadEastwestConfig(input: LoadInput = {}): EastwestConfig {
  const problems: string[] = [];
  const cfg = resolveConfig<EastwestConfig>(EASTWEST_OPTIONS, input, problems);
  for (const l of cfg.listen) if (!validListen(l)) problems.push(`listen: "${l}" is not host:port`);
  if (cfg.listen.length === 0) problems.push('listen: at least one address is required');
  for (const [p, v] of [
    ['admin.listen', cfg.admin.listen],
    ['admin.debugListen', cfg.admin.debugListen],
  ] as const) {
    if (!validListen(v)) problems.push(`${p}: "${v}" is not host:port`);
  }
  if (!isLoopbackListen(cfg.admin.debugListen)) {
    problems.push(`admin.debugListen: ${cfg.admin.debugListen} is not a loopback address`);
  }
  for (const p of ['xds.address', 'xds.caAddress'] as const) {
    const v = p === 'xds.address' ? cfg.xds.address : cfg.xds.caAddress;
    if (v && !validListen(stripScheme(v))) problems.push(`${p}: "${v}" is not host:port or https://host:port`);
  }
  if (!/^[^/]+\/[^/]+$/.test(cfg.identity)) problems.push(`identity: "${cfg.identity}" is not ns/sa`);
  if (!/^[A-Za-z0-9.-]+$/.test(cfg.trustDomain)) {
    problems.push(`trustDomain: "${cfg.trustDomain}" is not a valid trust domain`);
  }
  if (cfg.locality.split('/').length > 3) problems.push(`locality: "${cfg.locality}" is not region/zone/subzone`);
  for (const [p, f] of [
    ['xds.rootCa', cfg.xds.rootCa],
    ['xds.authToken', cfg.xds.authToken],
  ] as const) {
    if (!f) problems.push(`${p}: required`);
    else if (!readable(f)) problems.push(`${p}: cannot read ${f}`);
  }
  if (cfg.limits.maxTunnels < cfg.limits.maxConcurrentStreams) {
    problems.push('limits.maxTunnels: must not be below limits.maxConcurrentStreams');
  }
  if (cfg.limits.handshakeTimeout <= 0 || cfg.limits.dialTimeout <= 0 || cfg.limits.idleTimeout <= 0) {
    problems.push('limits: timeouts must be positive');
  }
  checkTrustBundleFiles('trustBundles', cfg.trustBundles, cfg.trustDomain, problems);
  if (problems.length) throw new ConfigError(problems);
  return deepFreeze(cfg);
}

/** "https://host:port" → "host:port" (ztunnel's XDS_ADDRESS form). */
export function stripScheme(address: string): string {
  return address.replace(/^[a-z]+:\/\//i, '').replace(/\/$/, '');
}

function readable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return true;
  } catch {
    return false;
  }
}
