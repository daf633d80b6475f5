export { Daemon } from './daemon';
export type { DaemonDeps, DaemonAddresses, AdminLayer } from './daemon';
export { StartupError } from './errors';
export { VERSION } from './version';
export type { PeeringContext, PeeringLayer, PeeringBuildResult, PeeringFactory } from './peering-hook';
export type { DaemonAuth } from './auth';
