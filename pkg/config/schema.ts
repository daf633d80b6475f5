/**
 * The one table that defines every setting: its config-file path, the env
 * names (istiod's first where one exists, then AMBIENTD_*), the flag, the
 * default and how to parse/validate it. Help text, env and flag parsing are
 * all derived from here, so a setting cannot exist in one place only. The
 * table is assembled here from one file per section (*-options.ts); its
 * order is the order of help output.
 */
import { PEERING_OPTIONS } from './peering-options';
import { REGISTRY_OPTIONS } from './registry-options';
import { RUNTIME_OPTIONS } from './runtime-options';
import type { OptionSpec } from './option-spec';
import { XDS_OPTIONS } from './xds-options';

export type { Kind, OptionSpec } from './option-spec';

/** The log level, the same setting for the daemon and the east-west gateway. */
export const LOG_LEVEL_OPTION: OptionSpec = {
  path: 'log.level',
  kind: 'enum',
  default: 'info',
  values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
  env: ['AMBIENTD_LOG_LEVEL'],
  help: 'Log level.',
};

export const OPTIONS: readonly OptionSpec[] = [
  {
    path: 'clusterId',
    kind: 'string',
    default: 'Kubernetes',
    env: ['CLUSTER_ID'],
    help: "This cluster's id (istiod CLUSTER_ID).",
  },
  {
    path: 'network',
    kind: 'string',
    default: '',
    env: ['NETWORK', 'AMBIENTD_NETWORK'],
    help: "This cluster's network; empty = the topology.istio.io/network label of the system namespace.",
  },
  {
    path: 'trustDomain',
    kind: 'string',
    default: 'cluster.local',
    env: ['TRUST_DOMAIN'],
    help: 'SPIFFE trust domain.',
  },
  {
    path: 'domainSuffix',
    kind: 'string',
    default: 'cluster.local',
    env: ['DOMAIN_SUFFIX', 'CLUSTER_DOMAIN'],
    help: 'Kubernetes DNS domain suffix.',
  },
  {
    path: 'systemNamespace',
    kind: 'string',
    default: 'istio-system',
    env: ['POD_NAMESPACE', 'ISTIOD_NAMESPACE'],
    help: 'Namespace of the control plane (root namespace for policies).',
  },
  {
    path: 'stateDir',
    kind: 'string',
    default: '.state',
    env: ['AMBIENTD_STATE_DIR', 'STATE_DIRECTORY'],
    help: 'Directory for persisted CA keys, peer state and tokens.',
  },
  LOG_LEVEL_OPTION,
  ...REGISTRY_OPTIONS,
  ...XDS_OPTIONS,
  {
    path: 'log.repeatLimit',
    kind: 'int',
    default: 5,
    min: 1,
    env: ['AMBIENTD_LOG_REPEAT_LIMIT'],
    help:
      'Lines per second for warnings a caller can repeat (xDS authentication refusals server-wide; NACKs and ' +
      'unknown type URLs per stream); the rest are counted in metrics only.',
  },
  {
    path: 'ca.dir',
    kind: 'string',
    default: '',
    env: ['AMBIENTD_CACERTS_DIR'],
    help: 'Plug-in CA directory (istio cacerts layout); empty = self-signed root in the state dir.',
  },
  {
    path: 'ca.rootKeyType',
    kind: 'enum',
    default: 'rsa',
    values: ['rsa', 'ec'],
    env: ['AMBIENTD_CA_ROOT_KEY_TYPE'],
    help: 'Key type of a self-signed root.',
  },
  {
    path: 'ca.defaultTtl',
    kind: 'duration',
    default: 24 * 3600_000,
    env: ['DEFAULT_WORKLOAD_CERT_TTL'],
    help: 'Workload certificate lifetime when the request asks for none.',
  },
  {
    path: 'ca.maxTtl',
    kind: 'duration',
    default: 90 * 24 * 3600_000,
    env: ['MAX_WORKLOAD_CERT_TTL'],
    help: 'Longest workload certificate lifetime granted.',
  },
  {
    path: 'ca.trustedNodeAccounts',
    kind: 'list',
    default: ['istio-system/ztunnel'],
    env: ['CA_TRUSTED_NODE_ACCOUNTS'],
    help: 'ns/sa of callers allowed to request other identities on their node.',
  },
  {
    path: 'ca.servingDnsNames',
    kind: 'list',
    default: [],
    env: ['ISTIOD_CUSTOM_HOST'],
    help: "Extra DNS names on the daemon's serving certificate.",
  },
  {
    path: 'ca.identity',
    kind: 'string',
    default: 'istio-system/istiod',
    env: ['AMBIENTD_IDENTITY'],
    help: "ns/sa of the daemon's own SPIFFE identity.",
  },
  {
    path: 'auth.jwksFile',
    kind: 'string',
    default: '',
    env: ['AMBIENTD_JWKS_FILE'],
    help: 'JWKS file to verify Kubernetes service-account tokens.',
  },
  {
    path: 'auth.jwksUrl',
    kind: 'string',
    default: '',
    env: ['AMBIENTD_JWKS_URL'],
    help: 'JWKS URL (or issuer discovery) for service-account tokens.',
  },
  {
    path: 'auth.issuer',
    kind: 'string',
    default: '',
    env: ['AMBIENTD_JWT_ISSUER'],
    help: 'Expected iss of Kubernetes service-account tokens.',
  },
  {
    path: 'auth.audiences',
    kind: 'list',
    default: ['istio-ca'],
    env: ['TOKEN_AUDIENCES'],
    help: 'Accepted token audiences.',
  },
  {
    path: 'admin.metricsListen',
    kind: 'string',
    default: '0.0.0.0:15014',
    env: ['AMBIENTD_METRICS_LISTEN'],
    help: 'Prometheus /metrics listen address.',
  },
  {
    path: 'admin.debugListen',
    kind: 'string',
    default: '127.0.0.1:8080',
    env: ['AMBIENTD_DEBUG_LISTEN'],
    help: 'Debug/health listen address (loopback unless a token is set).',
  },
  {
    path: 'admin.debugToken',
    kind: 'string',
    default: '',
    env: ['AMBIENTD_DEBUG_TOKEN'],
    secret: true,
    help: 'Bearer token required when the debug port is not loopback.',
  },
  ...PEERING_OPTIONS,
  ...RUNTIME_OPTIONS,
];
