export { DaemonError, isDaemonError, GrpcCode } from './errors';
export type { ErrorCode } from './errors';
