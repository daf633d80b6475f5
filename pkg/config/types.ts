/** The frozen, validated configuration; components receive only their slice. */
export interface DaemonConfig {
  readonly clusterId: string;
  readonly network: string;
  readonly trustDomain: string;
  readonly domainSuffix: string;
  readonly systemNamespace: string;
  readonly stateDir: string;
  readonly log: {
    readonly level: string;
    /** Lines per second per repeated-warning source. */
    readonly repeatLimit: number;
  };
  readonly registry: {
    readonly type: 'file' | 'kubernetes';
    readonly dir: string;
    readonly kubeconfig: string;
    readonly context: string;
    readonly apiHost: string;
    readonly apiPort: string;
    /** ms */
    readonly syncTimeout: number;
    readonly maxFileBytes: number;
    readonly maxNodes: number;
    readonly maxAliases: number;
    readonly maxDepth: number;
    /** ms */
    readonly parseTimeout: number;
    readonly parserHeapMb: number;
  };
  readonly xds: XdsConfig;
  readonly ca: CaConfig;
  readonly auth: AuthConfig;
  readonly admin: AdminConfig;
  readonly peering: PeeringConfig;
  readonly runtime: RuntimeConfig;
  /** ms */
  readonly drainDeadline: number;
}

/** Memory policy of the process (applied by cmd/, which alone touches V8 flags). */
export interface RuntimeConfig {
  /** 0 = V8's default growth. */
  readonly heapGrowthPercent: number;
  /** ms; 0 = never. */
  readonly gcAfterBurst: number;
  readonly gcBurstResources: number;
  /** File descriptors reserved for the daemon's own work. */
  readonly fdReserve: number;
  /** 0 = derived from RLIMIT_NOFILE − fdReserve. */
  readonly maxConnections: number;
}

export interface XdsConfig {
  readonly listen: string;
  readonly maxReceiveBytes: number;
  readonly maxSessionMemoryMb: number;
  /** ms */
  readonly debounceAfter: number;
  /** ms */
  readonly debounceMax: number;
  readonly debounceMode: 'leading' | 'quiet';
  /** Percent of the event loop pushes may keep busy (over 1 s) before later ones wait; 0 = no budget. */
  readonly pushBudgetPercent: number;
  readonly insecure: boolean;
  readonly maxTombstones: number;
  /** ms */
  readonly tlsHandshakeTimeout: number;
  /** ms */
  readonly prefaceTimeout: number;
  /** ms */
  readonly idleTimeout: number;
  readonly maxConcurrentStreams: number;
  /** ms */
  readonly firstMessageTimeout: number;
  readonly maxConnectionsPerSource: number;
  readonly receiveBudgetBytes: number;
  /** ms */
  readonly receiveHoldTimeout: number;
  /** bytes; HTTP/2 window of an authenticated connection */
  readonly authenticatedWindowBytes: number;
  readonly maxNamesPerStream: number;
  /** Per-stream request work (pkg/xds/request-pump.ts). */
  readonly streamNamesPerTurn: number;
  readonly streamRequestsPerTurn: number;
  readonly streamBytesPerTurn: number;
  readonly streamNamesPerSecond: number;
  readonly streamBytesPerSecond: number;
  readonly streamWorkMsPerSecond: number;
  readonly maxRequestsBeforeAuth: number;
}

export interface CaConfig {
  readonly dir: string;
  readonly rootKeyType: 'rsa' | 'ec';
  /** ms */
  readonly defaultTtl: number;
  /** ms */
  readonly maxTtl: number;
  readonly trustedNodeAccounts: readonly string[];
  readonly servingDnsNames: readonly string[];
  readonly identity: string;
}

export interface AuthConfig {
  readonly jwksFile: string;
  readonly jwksUrl: string;
  readonly issuer: string;
  readonly audiences: readonly string[];
}

export interface AdminConfig {
  readonly metricsListen: string;
  readonly debugListen: string;
  readonly debugToken: string;
}

export interface PeeringConfig {
  readonly discoverySuffix: string;
  readonly defaultTrafficDistribution: 'PreferNetwork' | 'PreferRegion' | 'PreferClose' | 'Any';
  readonly enableFlatNetworks: boolean;
  readonly peerIdentity: string;
  /** Peer trust domain → path of a PEM file with its roots (validated at load: readable, ≥ 1 certificate). */
  readonly trustBundles: Readonly<Record<string, string>>;
  readonly disableLegacyMulticluster: boolean;
}
