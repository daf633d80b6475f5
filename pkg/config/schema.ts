/**
 * The one table that defines every setting: its config-file path, the env
 * names (istiod's first where one exists, then AMBIENTD_*), the flag, the
 * default and how to parse/validate it. Help text, env and flag parsing are
 * all derived from here, so a setting cannot exist in one place only.
 */
/** map: string → string; file form a YAML mapping, env/flag form "k1=v1,k2=v2". */
export type Kind = 'string' | 'int' | 'bool' | 'duration' | 'list' | 'enum' | 'map';

export interface OptionSpec {
  /** Dotted path in the config object / YAML file. */
  path: string;
  kind: Kind;
  default: unknown;
  env?: readonly string[];
  /** Long flag name without dashes; defaults to the path with dots as dashes. */
  flag?: string;
  help: string;
  values?: readonly string[];
  min?: number;
  max?: number;
  secret?: boolean;
}

export const OPTIONS: readonly OptionSpec[] = [
  { path: 'clusterId', kind: 'string', default: 'Kubernetes', env: ['CLUSTER_ID'], help: 'This cluster\'s id (istiod CLUSTER_ID).' },
  { path: 'network', kind: 'string', default: '', env: ['NETWORK', 'AMBIENTD_NETWORK'], help: 'This cluster\'s network; empty = the topology.istio.io/network label of the system namespace.' },
  { path: 'trustDomain', kind: 'string', default: 'cluster.local', env: ['TRUST_DOMAIN'], help: 'SPIFFE trust domain.' },
  { path: 'domainSuffix', kind: 'string', default: 'cluster.local', env: ['DOMAIN_SUFFIX', 'CLUSTER_DOMAIN'], help: 'Kubernetes DNS domain suffix.' },
  { path: 'systemNamespace', kind: 'string', default: 'istio-system', env: ['POD_NAMESPACE', 'ISTIOD_NAMESPACE'], help: 'Namespace of the control plane (root namespace for policies).' },
  { path: 'stateDir', kind: 'string', default: '.state', env: ['AMBIENTD_STATE_DIR', 'STATE_DIRECTORY'], help: 'Directory for persisted CA keys, peer state and tokens.' },
  { path: 'log.level', kind: 'enum', default: 'info', values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], env: ['AMBIENTD_LOG_LEVEL'], help: 'Log level.' },
  { path: 'registry.type', kind: 'enum', default: 'file', values: ['file', 'kubernetes'], env: ['AMBIENTD_REGISTRY'], help: 'Where local services/workloads come from.' },
  { path: 'registry.dir', kind: 'string', default: 'examples/default/mesh', env: ['AMBIENTD_REGISTRY_DIR'], help: 'Directory of Kubernetes-shaped YAML for the file registry.' },
  { path: 'registry.kubeconfig', kind: 'string', default: '', env: ['KUBECONFIG'], help: 'kubeconfig path for registry: kubernetes (empty = in-cluster).' },
  { path: 'registry.context', kind: 'string', default: '', env: ['AMBIENTD_KUBE_CONTEXT'], help: 'kubeconfig context.' },
  { path: 'registry.apiHost', kind: 'string', default: '', env: ['KUBERNETES_SERVICE_HOST'], help: 'In-cluster API server host (set by Kubernetes in every pod).' },
  { path: 'registry.apiPort', kind: 'string', default: '', env: ['KUBERNETES_SERVICE_PORT'], help: 'In-cluster API server port (set by Kubernetes in every pod).' },
  { path: 'registry.syncTimeout', kind: 'duration', default: 120_000, env: ['AMBIENTD_REGISTRY_SYNC_TIMEOUT'], help: 'How long start-up waits for the first list of every kind before serving anyway.' },
  { path: 'registry.maxFileBytes', kind: 'int', default: 32 * 1024 * 1024, min: 1024, env: ['AMBIENTD_REGISTRY_MAX_FILE_BYTES'], help: 'Largest registry file read; a larger one is rejected whole (its last good objects stay).' },
  { path: 'registry.maxNodes', kind: 'int', default: 250_000, min: 100, env: ['AMBIENTD_REGISTRY_MAX_NODES'], help: 'Most YAML nodes (scalars, collections, aliases) in one registry file, counted before it is parsed (~1 KiB of parser heap each; JSON files may have 10x as many). A larger file is rejected whole.' },
  { path: 'registry.maxAliases', kind: 'int', default: 100, min: 0, env: ['AMBIENTD_REGISTRY_MAX_ALIASES'], help: 'Most YAML alias references in one registry file.' },
  { path: 'registry.maxDepth', kind: 'int', default: 256, min: 16, env: ['AMBIENTD_REGISTRY_MAX_DEPTH'], help: 'Deepest nesting in one registry file (flow brackets + block indicators + indentation columns, an upper bound of the real depth).' },
  { path: 'registry.parseTimeout', kind: 'duration', default: 30_000, env: ['AMBIENTD_REGISTRY_PARSE_TIMEOUT'], help: 'Time budget to parse one registry file (in the parser worker); on overrun the worker is terminated and the file rejected.' },
  { path: 'registry.parserHeapMb', kind: 'int', default: 512, min: 32, env: ['AMBIENTD_REGISTRY_PARSER_HEAP_MB'], help: 'Heap cap of the registry parser worker thread (MiB); a file that needs more is rejected and only the worker restarts.' },
  { path: 'xds.listen', kind: 'string', default: '0.0.0.0:15012', env: ['AMBIENTD_XDS_LISTEN'], help: 'gRPC TLS listen address for xDS, CA and peers.' },
  { path: 'xds.maxReceiveBytes', kind: 'int', default: 4 * 1024 * 1024, min: 1024, env: ['ISTIO_GPRC_MAXRECVMSGSIZE'], help: 'Largest accepted gRPC message.' },
  { path: 'xds.maxSessionMemoryMb', kind: 'int', default: 512, min: 10, env: ['AMBIENTD_XDS_MAX_SESSION_MEMORY_MB'], help: 'HTTP/2 session memory cap per connection (MB).' },
  { path: 'xds.debounceAfter', kind: 'duration', default: 5, env: ['PILOT_DEBOUNCE_AFTER'], help: 'Quiet period before a push (istiod default 100ms; ours is short so one change lands in <20 ms).' },
  { path: 'xds.debounceMax', kind: 'duration', default: 50, env: ['PILOT_DEBOUNCE_MAX'], help: 'Longest a change waits under steady churn.' },
  { path: 'xds.debounceMode', kind: 'enum', default: 'leading', values: ['leading', 'quiet'], env: ['AMBIENTD_DEBOUNCE_MODE'], help: 'quiet = istiod: every push waits debounceAfter of quiet (capped at debounceMax). leading (default): a change arriving when nothing was pushed for debounceAfter is pushed at once (our builds are incremental, so waiting buys nothing and costs a timer wake-up); changes closer together coalesce as in quiet.' },
  { path: 'xds.insecure', kind: 'bool', default: false, env: ['AMBIENTD_INSECURE'], help: 'Accept unauthenticated xDS/CA callers (refused unless xds.listen is loopback).' },
  { path: 'xds.maxTombstones', kind: 'int', default: 100_000, min: 10, env: ['AMBIENTD_XDS_MAX_TOMBSTONES'], help: 'Deleted names remembered for lagging streams before they are reset.' },
  // Transport limits (issue 18): what any caller of the gRPC TLS port can hold, before and after authentication.
  {
    path: 'xds.tlsHandshakeTimeout', kind: 'duration', default: 10_000, min: 1,
    env: ['AMBIENTD_XDS_TLS_HANDSHAKE_TIMEOUT'],
    help: 'A TLS handshake on the gRPC port must finish within this long (Node\'s default is 120s).',
  },
  {
    path: 'xds.prefaceTimeout', kind: 'duration', default: 10_000, min: 1, env: ['AMBIENTD_XDS_PREFACE_TIMEOUT'],
    help: 'After TLS, the client\'s HTTP/2 preface and SETTINGS must arrive within this long.',
  },
  {
    path: 'xds.idleTimeout', kind: 'duration', default: 60_000, min: 1, env: ['AMBIENTD_XDS_IDLE_TIMEOUT'],
    help: 'A connection with no open stream for this long is closed with GOAWAY (grpc-go MaxConnectionIdle).',
  },
  {
    path: 'xds.maxConcurrentStreams', kind: 'int', default: 100, min: 1, max: 2 ** 31 - 1,
    env: ['ISTIO_GPRC_MAXSTREAMS', 'AMBIENTD_XDS_MAX_CONCURRENT_STREAMS'],
    help: 'Concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS; more are refused). istiod defaults to '
      + '100000; a ztunnel or peer uses one xDS stream and a few unary calls per connection.',
  },
  {
    path: 'xds.firstMessageTimeout', kind: 'duration', default: 10_000, min: 1,
    env: ['AMBIENTD_XDS_FIRST_MESSAGE_TIMEOUT'],
    help: 'A new call must send its first request message, and an xDS stream finish authenticating, within this long.',
  },
  {
    path: 'xds.maxConnectionsPerSource', kind: 'int', default: 128, min: 1,
    env: ['AMBIENTD_XDS_MAX_CONNECTIONS_PER_SOURCE'],
    help: 'Connections open at once from one source IP address; more are closed on accept.',
  },
  {
    path: 'xds.receiveBudgetBytes', kind: 'int', default: 64 * 1024 * 1024, min: 1024,
    env: ['AMBIENTD_XDS_RECEIVE_BUDGET_BYTES'],
    help: 'Bytes of large request messages (over 256 KiB) being received at once, across all calls; a call reserves '
      + 'its message only after 256 KiB of it arrived. At least xds.maxReceiveBytes.',
  },
  {
    path: 'xds.receiveHoldTimeout', kind: 'duration', default: 10_000, min: 1,
    env: ['AMBIENTD_XDS_RECEIVE_HOLD_TIMEOUT'],
    help: 'A receive-budget reservation expires (the call is ended) unless its message arrives within this long.',
  },
  {
    path: 'xds.maxNamesPerStream', kind: 'int', default: 1_000_000, min: 1, env: ['AMBIENTD_XDS_MAX_NAMES_PER_STREAM'],
    help: 'Resource names one xDS stream may subscribe to (all types together); over it the stream ends '
      + 'RESOURCE_EXHAUSTED.',
  },
  // Work one authenticated xDS stream makes the server do (pkg/xds/request-pump.ts; docs/reliability.md).
  {
    path: 'xds.streamNamesPerTurn', kind: 'int', default: 512, min: 1, env: ['AMBIENTD_XDS_STREAM_NAMES_PER_TURN'],
    help: 'Resource names (subscribe + unsubscribe) one xDS stream has applied per event-loop turn; a larger request '
      + 'is applied in slices and the stream\'s reading pauses meanwhile.',
  },
  {
    path: 'xds.streamRequestsPerTurn', kind: 'int', default: 64, min: 1,
    env: ['AMBIENTD_XDS_STREAM_REQUESTS_PER_TURN'],
    help: 'Requests one xDS stream has applied per event-loop turn.',
  },
  {
    path: 'xds.streamBytesPerTurn', kind: 'int', default: 64 * 1024, min: 1,
    env: ['AMBIENTD_XDS_STREAM_BYTES_PER_TURN'],
    help: 'Request bytes one xDS stream has applied per event-loop turn (one larger message still applies).',
  },
  {
    path: 'xds.streamNamesPerSecond', kind: 'int', default: 65_536, min: 1,
    env: ['AMBIENTD_XDS_STREAM_NAMES_PER_SECOND'],
    help: 'Sustained resource names per second one xDS stream may have applied (token bucket, one second of burst); '
      + 'a reconnect\'s initial_resource_versions do not count.',
  },
  {
    path: 'xds.streamBytesPerSecond', kind: 'int', default: 8 * 1024 * 1024, min: 1,
    env: ['AMBIENTD_XDS_STREAM_BYTES_PER_SECOND'],
    help: 'Sustained request bytes per second one xDS stream may have applied (token bucket, one second of burst).',
  },
  {
    path: 'xds.streamWorkMsPerSecond', kind: 'int', default: 50, min: 1, max: 1000,
    env: ['AMBIENTD_XDS_STREAM_WORK_MS_PER_SECOND'],
    help: 'Milliseconds per second of event-loop time one xDS stream\'s requests may take to apply (token bucket, '
      + 'one second of burst; wall time, so a CPU-starved machine slows a flood further).',
  },
  {
    path: 'xds.maxRequestsBeforeAuth', kind: 'int', default: 64, min: 1, env: ['AMBIENTD_XDS_MAX_REQUESTS_BEFORE_AUTH'],
    help: 'Requests buffered per xDS stream while its authentication is pending; one more ends it RESOURCE_EXHAUSTED.',
  },
  {
    path: 'log.repeatLimit', kind: 'int', default: 5, min: 1, env: ['AMBIENTD_LOG_REPEAT_LIMIT'],
    help: 'Lines per second for warnings a caller can repeat (xDS authentication refusals server-wide; NACKs and '
      + 'unknown type URLs per stream); the rest are counted in metrics only.',
  },
  { path: 'ca.dir', kind: 'string', default: '', env: ['AMBIENTD_CACERTS_DIR'], help: 'Plug-in CA directory (istio cacerts layout); empty = self-signed root in the state dir.' },
  { path: 'ca.rootKeyType', kind: 'enum', default: 'rsa', values: ['rsa', 'ec'], env: ['AMBIENTD_CA_ROOT_KEY_TYPE'], help: 'Key type of a self-signed root.' },
  { path: 'ca.defaultTtl', kind: 'duration', default: 24 * 3600_000, env: ['DEFAULT_WORKLOAD_CERT_TTL'], help: 'Workload certificate lifetime when the request asks for none.' },
  { path: 'ca.maxTtl', kind: 'duration', default: 90 * 24 * 3600_000, env: ['MAX_WORKLOAD_CERT_TTL'], help: 'Longest workload certificate lifetime granted.' },
  { path: 'ca.trustedNodeAccounts', kind: 'list', default: ['istio-system/ztunnel'], env: ['CA_TRUSTED_NODE_ACCOUNTS'], help: 'ns/sa of callers allowed to request other identities on their node.' },
  { path: 'ca.servingDnsNames', kind: 'list', default: [], env: ['ISTIOD_CUSTOM_HOST'], help: 'Extra DNS names on the daemon\'s serving certificate.' },
  { path: 'ca.identity', kind: 'string', default: 'istio-system/istiod', env: ['AMBIENTD_IDENTITY'], help: 'ns/sa of the daemon\'s own SPIFFE identity.' },
  { path: 'auth.jwksFile', kind: 'string', default: '', env: ['AMBIENTD_JWKS_FILE'], help: 'JWKS file to verify Kubernetes service-account tokens.' },
  { path: 'auth.jwksUrl', kind: 'string', default: '', env: ['AMBIENTD_JWKS_URL'], help: 'JWKS URL (or issuer discovery) for service-account tokens.' },
  { path: 'auth.issuer', kind: 'string', default: '', env: ['AMBIENTD_JWT_ISSUER'], help: 'Expected iss of Kubernetes service-account tokens.' },
  { path: 'auth.audiences', kind: 'list', default: ['istio-ca'], env: ['TOKEN_AUDIENCES'], help: 'Accepted token audiences.' },
  { path: 'admin.metricsListen', kind: 'string', default: '0.0.0.0:15014', env: ['AMBIENTD_METRICS_LISTEN'], help: 'Prometheus /metrics listen address.' },
  { path: 'admin.debugListen', kind: 'string', default: '127.0.0.1:8080', env: ['AMBIENTD_DEBUG_LISTEN'], help: 'Debug/health listen address (loopback unless a token is set).' },
  { path: 'admin.debugToken', kind: 'string', default: '', env: ['AMBIENTD_DEBUG_TOKEN'], secret: true, help: 'Bearer token required when the debug port is not loopback.' },
  { path: 'peering.discoverySuffix', kind: 'string', default: 'mesh.internal', env: ['PEERING_DISCOVERY_SUFFIX'], help: 'Suffix of global hostnames.' },
  { path: 'peering.defaultTrafficDistribution', kind: 'enum', default: 'PreferNetwork', values: ['PreferNetwork', 'PreferRegion', 'PreferClose', 'Any'], env: ['PEERING_DISCOVERY_DEFAULT_TRAFFIC_DISTRIBUTION'], help: 'Traffic distribution of global services without one.' },
  { path: 'peering.enableFlatNetworks', kind: 'bool', default: true, env: ['PEERING_ENABLE_FLAT_NETWORKS'], help: 'Import remote pods directly when a peer shares our network.' },
  { path: 'peering.peerIdentity', kind: 'string', default: 'istio-system/istiod', env: ['AMBIENTD_PEER_IDENTITY'], help: 'Default ns/sa expected of peer daemons.' },
  { path: 'peering.trustBundles', kind: 'map', default: {}, env: ['AMBIENTD_PEERING_TRUST_BUNDLES'], help: 'Roots per peer trust domain: <trust domain>=<PEM file> (env/flag: comma-separated). The local trust domain always uses the mesh bundle; a peer in a trust domain not listed is never dialled or admitted.' },
  { path: 'peering.disableLegacyMulticluster', kind: 'bool', default: true, env: ['DISABLE_LEGACY_MULTICLUSTER'], help: 'Accepted for istiod compatibility; ambientd has no remote-kubeconfig code.' },
  { path: 'runtime.heapGrowthPercent', kind: 'int', default: 25, min: 0, max: 300, env: ['AMBIENTD_HEAP_GROWTH_PERCENT'], help: 'How far the JS heap may grow past the live data before the next full collection (like Go\'s GOGC, which istiod uses). 0 = V8\'s own choice, which on hosts with much memory lets the heap reach 4x the live data.' },
  { path: 'runtime.gcAfterBurst', kind: 'duration', default: 10_000, env: ['AMBIENTD_GC_AFTER_BURST'], help: 'After a burst of pushes (a first sync, a resync: runtime.gcBurstResources or more), one full collection once fewer than 1,000 resources were pushed in a window this long. The collection pauses the process (~0.2 s at 120 MiB of live heap), so small bursts do not trigger it. 0 = never.' },
  { path: 'runtime.gcBurstResources', kind: 'int', default: 50_000, min: 1, env: ['AMBIENTD_GC_BURST_RESOURCES'], help: 'Resources pushed since the last such collection that make a burst (see runtime.gcAfterBurst).' },
  { path: 'runtime.fdReserve', kind: 'int', default: 256, min: 16, env: ['AMBIENTD_FD_RESERVE'], help: 'File descriptors kept for the daemon\'s own work (registry scans, state writes, certificate files, admin): the gRPC port accepts at most RLIMIT_NOFILE minus this many connections, so a connection flood hits that limit before a file read fails.' },
  { path: 'runtime.maxConnections', kind: 'int', default: 0, min: 0, env: ['AMBIENTD_MAX_CONNECTIONS'], help: 'Most concurrent gRPC connections; 0 = derived from the soft RLIMIT_NOFILE minus runtime.fdReserve. A value above that derived figure is lowered to it.' },
  { path: 'drainDeadline', kind: 'duration', default: 10_000, env: ['AMBIENTD_DRAIN_DEADLINE', 'TERMINATION_DRAIN_DURATION'], help: 'Graceful shutdown deadline.' },
];
