export { Daemon } from './daemon';
export type { DaemonDeps, DaemonAddresses, AdminLayer } from './daemon';
export { StartupError } from './errors';
export { VERSION } from '../config';
export type { PeeringContext, PeeringLayer, PeeringBuildResult, PeeringFactory } from '../peering';
export type { DaemonAuth } from './auth';
