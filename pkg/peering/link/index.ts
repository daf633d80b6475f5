// The link to peers: dialling (client.ts over peer-call.ts, TLS contexts, bounded admission), the peering wire's
// message types, and the probing of peers' gateways. Writes what it receives into state/ partitions.
export { Admission } from './admission';
export { PeerClient, TERMINATION_REASONS, uriSans } from './client';
export type { PeerClientState, TerminationReason } from './client';
export { FALL_OF, GatewayHealth, PROBE_INTERVAL_MS, PROBE_TIMEOUT_MS, RISE, WINDOW, tcpProbe } from './gateway-health';
export type { Probe, ProbeTarget } from './gateway-health';
export { PeerCall } from './peer-call';
export type { PeerCallOptions } from './peer-call';
export { dataDeclFor, probeTargets } from './peer-gateways';
export { SecureContexts } from './tls-context';
export { peeringTypes } from './wire-types';
