// The east-west gateway (`ambientd eastwest`): one front door.
export { EastWestGateway } from './gateway';
export type { GatewayDeps, GatewayPorts } from './gateway';
export { REFUSALS, REFUSAL_REASONS } from './refusals';
export type { RefusalReason } from './refusals';
export { buildRouteTable, parseAuthority, pickEndpoint, RouteTable } from './routes';
export type { Endpoint, Route, RouteContext } from './routes';
export { HBONE_PORT } from './listener';
// Tunnel: the per-byte relay, also measured alone against its floors (bench/sim/relay-floor.ts).
export { Tunnel } from './tunnel';
export type { TunnelView } from './tunnel';
