// The chaos run's faults (e2e/chaos/chaos.ts): which kinds exist, how one is picked, and how it is
// injected into one of the peered daemons (or its ztunnels, or its relay).
import type { ZtunnelClient, ZtunnelClientOptions } from '../harness/ztunnel-client';
import type { Relay } from '../harness/relay';
import type { ClusterModel, Rng } from './model';
import type { DaemonProc } from './procs';

export const FAULT_KINDS = [
  'ztunnel-stream-drop',
  'peer-connection-drop',
  'daemon-pause',
  'daemon-kill-restart',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One peered daemon of the run with its relay, registry model and ztunnels. */
export interface Node {
  index: number;
  name: string;
  network: string;
  proc: DaemonProc;
  relay: Relay;
  model: ClusterModel;
  registryDir: string;
  zt: ZtunnelClient[];
  ztOpts: ZtunnelClientOptions[];
  resumeTimer?: NodeJS.Timeout;
}

export function pickFault(rng: Rng): FaultKind {
  const r = rng.next();
  if (r < 0.4) return 'ztunnel-stream-drop';
  if (r < 0.7) return 'peer-connection-drop';
  if (r < 0.88) return 'daemon-pause';
  return 'daemon-kill-restart';
}

export async function inject(
  kind: FaultKind,
  nodes: Node[],
  rng: Rng,
  faults: Record<FaultKind, number>,
  log: (l: string) => void,
): Promise<void> {
  const n = rng.pick(nodes);
  switch (kind) {
    case 'ztunnel-stream-drop': {
      // The ztunnel restarts its xDS stream, echoing its held versions (initial_resource_versions).
      const z = n.zt[rng.int(n.zt.length)]!;
      z.disconnect();
      z.connect();
      break;
    }
    case 'peer-connection-drop':
      // Both peers' connections to this daemon are cut at the TCP level.
      n.relay.drop();
      break;
    case 'daemon-pause': {
      if (n.proc.paused) return inject('peer-connection-drop', nodes, rng, faults, log);
      n.proc.pause();
      clearTimeout(n.resumeTimer);
      n.resumeTimer = setTimeout(() => n.proc.resume(), 200 + rng.int(1500));
      break;
    }
    case 'daemon-kill-restart': {
      clearTimeout(n.resumeTimer);
      const t0 = performance.now();
      await n.proc.kill9();
      await n.proc.start();
      log(
        `chaos: ${n.name} kill -9 and restart (start #${n.proc.starts}, pid ${n.proc.child!.pid}, ` +
          `ready after ${Math.round(performance.now() - t0)} ms)`,
      );
      break;
    }
  }
  faults[kind]++;
}
