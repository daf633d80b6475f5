export { Daemon } from './daemon';
export type { DaemonAddresses, AdminLayer, DaemonComponent, DaemonParts } from './daemon';
export { buildDaemon } from './build-daemon';
export type { DaemonDeps } from './build-daemon';
export { StartupError } from './errors';
export { VERSION } from '../config';
export type { PeeringContext, PeeringLayer, PeeringBuildResult, PeeringFactory } from '../peering';
export type { DaemonAuth } from './auth';
