import { readFileSync } from 'node:fs';

/**
 * The process's file-descriptor limit. Node has no getrlimit(); on Linux
 * /proc/self/limits has a "Max open files <soft> <hard> files" row (proc(5)).
 * Node raises the soft limit to the hard one at start-up (src/node.cc
 * PlatformInit), so the row read from inside the daemon is what it really has.
 */
export interface NofileLimit {
  soft: number;
  hard: number;
}

/** Parses the "Max open files" row of a /proc/<pid>/limits text; undefined if absent or "unlimited". */
export function parseNofile(limitsText: string): NofileLimit | undefined {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limitsText);
  if (!m || m[1] === 'unlimited') return undefined;
  const soft = Number(m[1]);
  const hard = m[2] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[2]);
  return { soft, hard };
}

/** Reads this process's limit (Linux); undefined where /proc is not available. */
export function readNofile(read: (p: string) => string = (p) => readFileSync(p, 'utf8')): NofileLimit | undefined {
  try {
    return parseNofile(read('/proc/self/limits'));
  } catch {
    return undefined;
  }
}

export interface ConnectionLimitInput {
  /** Soft RLIMIT_NOFILE, if known. */
  softNofile: number | undefined;
  /** Descriptors kept for the daemon's own work. */
  reserve: number;
  /** Configured cap; 0 = derive. */
  configured: number;
}

export interface ConnectionLimit {
  /** Most concurrent connections on the gRPC port; 0 = no cap (limit unknown and none configured). */
  max: number;
  /** Why this figure, for the start-up log. */
  basis: string;
}

/** Least connections the derivation leaves when the reserve would eat (nearly) every descriptor. */
const MIN_DERIVED = 16;

/**
 * The gRPC port's connection cap: RLIMIT_NOFILE minus the reserve, so
 * connections run out before descriptors do and a registry scan, a state
 * write or a certificate read still gets one. A configured cap above that
 * figure is lowered to it (it would give the ordering away).
 */
export function connectionLimit(i: ConnectionLimitInput): ConnectionLimit {
  if (i.softNofile === undefined) {
    return i.configured > 0
      ? { max: i.configured, basis: 'runtime.maxConnections (descriptor limit unknown)' }
      : { max: 0, basis: 'no cap: descriptor limit unknown and runtime.maxConnections 0' };
  }
  let derived = i.softNofile - i.reserve;
  let basis = `RLIMIT_NOFILE ${i.softNofile} - runtime.fdReserve ${i.reserve}`;
  if (derived < MIN_DERIVED) {
    derived = Math.max(1, Math.floor(i.softNofile / 2));
    basis = `RLIMIT_NOFILE ${i.softNofile} is below runtime.fdReserve ${i.reserve} + ${MIN_DERIVED}; half of it`;
  }
  if (i.configured > 0 && i.configured <= derived) return { max: i.configured, basis: 'runtime.maxConnections' };
  if (i.configured > derived) basis = `runtime.maxConnections ${i.configured} lowered to ${basis}`;
  return { max: derived, basis };
}
