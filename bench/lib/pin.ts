/**
 * CPU pinning for the xds and churn rigs (issue 20 target 5): with XDS_PIN=1 the
 * server under test (the daemon, and the bare floor server identically) runs under
 * `taskset -c 0` and the simulated clients (and this runner) under `taskset -c 1`,
 * so a server's CPU per stream is its own and not the clients' competing for its core.
 * taskset(1) sets the affinity and then execs the command, so the child's pid is the
 * process measured in /proc; every thread node starts afterwards inherits the mask.
 */
import { execFileSync } from 'node:child_process';

export interface Pinning {
  /** CPU list (taskset -c syntax) for the server under test. */
  server: string;
  /** CPU list for the simulated clients and the bench runner. */
  clients: string;
}

/** XDS_PIN=1 pins server to CPU 0 and clients to CPU 1; XDS_PIN=<server>/<clients> names the CPU lists. */
export function pinningFromEnv(env: NodeJS.ProcessEnv = process.env): Pinning | undefined {
  const v = env['XDS_PIN'];
  if (!v || v === '0') return undefined;
  const m = /^([0-9,-]+)\/([0-9,-]+)$/.exec(v);
  return m ? { server: m[1]!, clients: m[2]! } : { server: '0', clients: '1' };
}

/** The command line that runs `cmd args` on `cpus` (unchanged when cpus is undefined). */
export function pinnedCommand(cmd: string, args: string[], cpus: string | undefined): { cmd: string; args: string[] } {
  return cpus ? { cmd: 'taskset', args: ['-c', cpus, cmd, ...args] } : { cmd, args };
}

/** Moves this process (every thread) onto `cpus`; the bench runner joins the clients' core. */
export function pinSelf(cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' });
}

/** For the results JSON: what ran where. */
export function describePinning(p: Pinning | undefined): string {
  return p ? `server on CPU ${p.server}, clients and runner on CPU ${p.clients} (taskset)` : 'unpinned';
}
