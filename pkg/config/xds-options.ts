import type { OptionSpec } from './option-spec';

/** xds.*: the xDS listener, debouncing, and the limits on what one caller or stream can hold or make us do. */
export const XDS_OPTIONS: readonly OptionSpec[] = [
  {
    path: 'xds.listen',
    kind: 'string',
    default: '0.0.0.0:15012',
    env: ['AMBIENTD_XDS_LISTEN'],
    help: 'gRPC TLS listen address for xDS, CA and peers.',
  },
  {
    path: 'xds.maxReceiveBytes',
    kind: 'int',
    default: 4 * 1024 * 1024,
    min: 1024,
    env: ['ISTIO_GPRC_MAXRECVMSGSIZE'],
    help: 'Largest accepted gRPC message.',
  },
  {
    path: 'xds.maxSessionMemoryMb',
    kind: 'int',
    default: 512,
    min: 10,
    env: ['AMBIENTD_XDS_MAX_SESSION_MEMORY_MB'],
    help: 'HTTP/2 session memory cap per connection (MB).',
  },
  {
    path: 'xds.debounceAfter',
    kind: 'duration',
    default: 5,
    env: ['PILOT_DEBOUNCE_AFTER'],
    help: 'Quiet period before a push (istiod default 100ms; ours is short so one change lands in <20 ms).',
  },
  {
    path: 'xds.debounceMax',
    kind: 'duration',
    default: 50,
    env: ['PILOT_DEBOUNCE_MAX'],
    help: 'Longest a change waits under steady churn.',
  },
  {
    path: 'xds.debounceMode',
    kind: 'enum',
    default: 'leading',
    values: ['leading', 'quiet'],
    env: ['AMBIENTD_DEBOUNCE_MODE'],
    help:
      'quiet = istiod: every push waits debounceAfter of quiet (capped at debounceMax). leading (default): a ' +
      'change arriving when nothing was pushed for debounceAfter is pushed at once (our builds are incremental, so ' +
      'waiting buys nothing and costs a timer wake-up); changes closer together coalesce as in quiet.',
  },
  {
    path: 'xds.pushBudgetPercent',
    kind: 'int',
    default: 15,
    min: 0,
    max: 100,
    env: ['AMBIENTD_PUSH_BUDGET_PERCENT'],
    help:
      'Percent of the event loop (averaged over 1 s) that pushes may keep busy, each counted from its start until ' +
      'its fan-out has written every stream. Under churn, later pushes wait for the budget and carry every change ' +
      'made meanwhile; no change waits longer than debounceMax for it, a push after a quiet period never waits, ' +
      'and a held push that gains no change within 3 × debounceAfter goes out and turns holding off for a while. ' +
      '0 = no budget: every change is pushed as soon as the debounce allows.',
  },
  {
    path: 'xds.insecure',
    kind: 'bool',
    default: false,
    env: ['AMBIENTD_INSECURE'],
    help: 'Accept unauthenticated xDS/CA callers (refused unless xds.listen is loopback).',
  },
  {
    path: 'xds.maxTombstones',
    kind: 'int',
    default: 100_000,
    min: 10,
    env: ['AMBIENTD_XDS_MAX_TOMBSTONES'],
    help: 'Deleted names remembered for lagging streams before they are reset.',
  },
  // Transport limits (issue 18): what any caller of the gRPC TLS port can hold, before and after authentication.
  {
    path: 'xds.tlsHandshakeTimeout',
    kind: 'duration',
    default: 10_000,
    min: 1,
    env: ['AMBIENTD_XDS_TLS_HANDSHAKE_TIMEOUT'],
    help: "A TLS handshake on the gRPC port must finish within this long (Node's default is 120s).",
  },
  {
    path: 'xds.prefaceTimeout',
    kind: 'duration',
    default: 10_000,
    min: 1,
    env: ['AMBIENTD_XDS_PREFACE_TIMEOUT'],
    help: "After TLS, the client's HTTP/2 preface and SETTINGS must arrive within this long.",
  },
  {
    path: 'xds.idleTimeout',
    kind: 'duration',
    default: 60_000,
    min: 1,
    env: ['AMBIENTD_XDS_IDLE_TIMEOUT'],
    help: 'A connection with no open stream for this long is closed with GOAWAY (grpc-go MaxConnectionIdle).',
  },
  {
    path: 'xds.maxConcurrentStreams',
    kind: 'int',
    default: 100,
    min: 1,
    max: 2 ** 31 - 1,
    env: ['ISTIO_GPRC_MAXSTREAMS', 'AMBIENTD_XDS_MAX_CONCURRENT_STREAMS'],
    help:
      'Concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS; more are refused). istiod defaults to ' +
      '100000; a ztunnel or peer uses one xDS stream and a few unary calls per connection.',
  },
  {
    path: 'xds.firstMessageTimeout',
    kind: 'duration',
    default: 10_000,
    min: 1,
    env: ['AMBIENTD_XDS_FIRST_MESSAGE_TIMEOUT'],
    help: 'A new call must send its first request message, and an xDS stream finish authenticating, within this long.',
  },
  {
    path: 'xds.maxConnectionsPerSource',
    kind: 'int',
    default: 128,
    min: 1,
    env: ['AMBIENTD_XDS_MAX_CONNECTIONS_PER_SOURCE'],
    help: 'Connections open at once from one source IP address; more are closed on accept.',
  },
  {
    path: 'xds.receiveBudgetBytes',
    kind: 'int',
    default: 64 * 1024 * 1024,
    min: 1024,
    env: ['AMBIENTD_XDS_RECEIVE_BUDGET_BYTES'],
    help:
      'Bytes of large request messages (over 64 KiB) being received at once, across all calls; a call reserves ' +
      'its message only after 64 KiB of it arrived. At least xds.maxReceiveBytes.',
  },
  {
    path: 'xds.receiveHoldTimeout',
    kind: 'duration',
    default: 10_000,
    min: 1,
    env: ['AMBIENTD_XDS_RECEIVE_HOLD_TIMEOUT'],
    help: 'A receive-budget reservation expires (the call is ended) unless its message arrives within this long.',
  },
  {
    path: 'xds.authenticatedWindowBytes',
    kind: 'int',
    default: 1024 * 1024,
    min: 65_535,
    max: 16 * 1024 * 1024,
    env: ['AMBIENTD_XDS_AUTHENTICATED_WINDOW_BYTES'],
    help:
      'HTTP/2 receive window (per stream and per connection) of a connection once one of its streams presented ' +
      'valid credentials and was granted receive budget for a large message; before that HTTP/2 default 65535 ' +
      'applies. Also the most a paused stream of a widened connection can have in flight. 65535 = never raised.',
  },
  {
    path: 'xds.maxNamesPerStream',
    kind: 'int',
    default: 1_000_000,
    min: 1,
    env: ['AMBIENTD_XDS_MAX_NAMES_PER_STREAM'],
    help:
      'Resource names one xDS stream may subscribe to (all types together); over it the stream ends ' +
      'RESOURCE_EXHAUSTED.',
  },
  // Work one authenticated xDS stream makes the server do (pkg/xds/request-pump.ts; docs/reliability.md).
  {
    path: 'xds.streamNamesPerTurn',
    kind: 'int',
    default: 512,
    min: 1,
    env: ['AMBIENTD_XDS_STREAM_NAMES_PER_TURN'],
    help:
      'Resource names (subscribe + unsubscribe) one xDS stream has applied per event-loop turn; a larger request ' +
      "is applied in slices and the stream's reading pauses meanwhile.",
  },
  {
    path: 'xds.streamRequestsPerTurn',
    kind: 'int',
    default: 64,
    min: 1,
    env: ['AMBIENTD_XDS_STREAM_REQUESTS_PER_TURN'],
    help: 'Requests one xDS stream has applied per event-loop turn.',
  },
  {
    path: 'xds.streamBytesPerTurn',
    kind: 'int',
    default: 64 * 1024,
    min: 1,
    env: ['AMBIENTD_XDS_STREAM_BYTES_PER_TURN'],
    help: 'Request bytes one xDS stream has applied per event-loop turn (one larger message still applies).',
  },
  {
    path: 'xds.streamNamesPerSecond',
    kind: 'int',
    default: 65_536,
    min: 1,
    env: ['AMBIENTD_XDS_STREAM_NAMES_PER_SECOND'],
    help:
      'Sustained resource names per second one xDS stream may have applied (token bucket, one second of burst); ' +
      "a reconnect's initial_resource_versions do not count.",
  },
  {
    path: 'xds.streamBytesPerSecond',
    kind: 'int',
    default: 8 * 1024 * 1024,
    min: 1,
    env: ['AMBIENTD_XDS_STREAM_BYTES_PER_SECOND'],
    help: 'Sustained request bytes per second one xDS stream may have applied (token bucket, one second of burst).',
  },
  {
    path: 'xds.streamWorkMsPerSecond',
    kind: 'int',
    default: 50,
    min: 1,
    max: 1000,
    env: ['AMBIENTD_XDS_STREAM_WORK_MS_PER_SECOND'],
    help:
      "Milliseconds per second of event-loop time one xDS stream's requests may take to apply (token bucket, " +
      'one second of burst; wall time, so a CPU-starved machine slows a flood further).',
  },
  {
    path: 'xds.maxRequestsBeforeAuth',
    kind: 'int',
    default: 64,
    min: 1,
    env: ['AMBIENTD_XDS_MAX_REQUESTS_BEFORE_AUTH'],
    help: 'Requests buffered per xDS stream while its authentication is pending; one more ends it RESOURCE_EXHAUSTED.',
  },
];
