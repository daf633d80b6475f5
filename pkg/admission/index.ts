/**
 * Connection admission and descriptor headroom: the daemon keeps
 * runtime.fdReserve descriptors for its own work, so a flood of connections
 * meets the connection cap before a registry read or state write meets EMFILE.
 */
export { ConnectionAdmission } from './connection-admission';
export type { ConnectionAdmissionHook, ConnectionAdmissionOptions } from './connection-admission';
export { connectionLimit, parseNofile, readNofile } from './fd-limits';
export type { ConnectionLimit, ConnectionLimitInput, NofileLimit } from './fd-limits';
