import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemonProc, type DaemonProc } from './daemon-proc';
import { writeMesh, type MeshShape } from './mesh-gen';
import { SimProc } from './sim-proc';
import type { Pinning } from './pin';
import { BENCH_CONNECTIONS_PER_SOURCE } from './daemon-proc';

/** A synthetic file-registry mesh, the daemon as its own process, and the simulated-ztunnel process, wired up. */
export interface XdsRig {
  reg: string;
  mesh: ReturnType<typeof writeMesh>;
  daemon: DaemonProc;
  sim: SimProc;
  close(): Promise<void>;
}

/** `xds` settings override the rig's (e.g. the attack scenario keeps the default per-source connection limit). */
export async function startXdsRig(o: {
  name: string;
  logDir: string;
  shape: MeshShape;
  xds?: Record<string, unknown>;
  pin?: Pinning;
}): Promise<XdsRig> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ambientd-bench-${o.name}-`));
  const reg = path.join(dir, 'registry');
  const mesh = writeMesh(reg, o.shape);
  const daemon = await startDaemonProc({
    dir,
    logDir: o.logDir,
    name: `${o.name}-daemon`,
    cpus: o.pin?.server,
    // Diagnosis only (e.g. BENCH_DAEMON_NODE_ARGS=--cpu-prof); figures are taken without it.
    nodeArgs: process.env.BENCH_DAEMON_NODE_ARGS ? process.env.BENCH_DAEMON_NODE_ARGS.split(' ') : undefined,
    config: {
      clusterId: 'bench',
      registry: { type: 'file', dir: reg },
      xds: { listen: '127.0.0.1:0', maxConnectionsPerSource: BENCH_CONNECTIONS_PER_SOURCE, ...o.xds },
      admin: { metricsListen: '127.0.0.1:0', debugListen: '127.0.0.1:0' },
    },
  });
  const sim = new SimProc(path.join(__dirname, '..', 'sim', 'xds-sim.js'), [], [], o.pin?.clients);
  await sim.next('ready');
  sim.send({
    cmd: 'init',
    init: { address: `127.0.0.1:${daemon.grpcPort}`, rootCaPem: daemon.rootCaPem, token: daemon.token },
  });
  return {
    reg,
    mesh,
    daemon,
    sim,
    async close() {
      sim.close();
      await daemon.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One client fetches full state, then n-1 more connect presenting it (cheap for the simulator and the daemon). */
export async function connectStreams(sim: SimProc, n: number): Promise<void> {
  sim.send({ cmd: 'connect', n: 1, withState: false });
  await sim.next('connected');
  if (n > 1) {
    sim.send({ cmd: 'connect', n: n - 1, withState: true });
    await sim.next('connected', 300_000);
  }
}
