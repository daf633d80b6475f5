import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitFor } from '../../pkg/lifecycle';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../pkg/wire';
import { makePki, peeringWire, eastWest, remote } from '../peering/harness';
import { ZtunnelClient, type ZtunnelClientOptions } from '../harness/ztunnel-client';
import { DaemonProc, freePorts } from './procs';
import { Relay } from '../harness/relay';
import { ClusterModel, Rng, namespaceYaml } from './model';
import { truthFromFiles, checkAgainstTruth, compareHeld, type ClusterTruth } from './oracle';
import { checkStateFiles } from './state-files';
import { FAULT_KINDS, inject, pickFault, type FaultKind, type Node } from './faults';

export { FAULT_KINDS, type FaultKind };

export interface ChaosOptions {
  cycles: number;
  seed: number;
  /** Settle and check every K cycles (and always at the end); 0 = only at the end. */
  settleEvery?: number;
  /** Probability that a cycle also injects a fault. */
  faultRate?: number;
  /** Bound on one settle (peers reconnect with up to 15 s backoff after a kill). */
  settleTimeoutMs?: number;
  ztunnelsPerDaemon?: number;
  log?: (line: string) => void;
  /** Keep the work dir (logs, state) for inspection. */
  keepDir?: boolean;
}

export interface ChaosResult {
  seed: number;
  cycles: number;
  faults: Record<FaultKind, number>;
  totalFaults: number;
  churn: Record<string, number>;
  settles: number;
  mismatches: number;
  /** The mismatch lines of the last failing settle (bounded). */
  problems: string[];
  stateFilesChecked: number;
  /** Temp files left by writes a kill -9 interrupted (not loaded, never cleaned up): reported, not a mismatch. */
  leftoverTempFiles: string[];
  dir: string;
}

const CLUSTERS = [
  { name: 'chaos-a', network: 'net-a' },
  { name: 'chaos-b', network: 'net-b' },
  { name: 'chaos-c', network: 'net-c' },
];
const TYPES = [TYPE_ADDRESS, TYPE_AUTHORIZATION] as const;

interface SynczDoc {
  streams: { nodeId: string; inSync: boolean }[];
}
interface PeersDoc {
  peers: { cluster: string; conditions: Record<string, { status: string }> }[];
}

/**
 * Three real daemons peered in a full mesh through TCP relays, ztunnels on
 * each, seeded churn of pods/services/policies, random faults; after each
 * settle every ztunnel's state is checked against the ground truth.
 */
export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const log = o.log ?? (() => undefined);
  const rng = new Rng(o.seed);
  const wire = peeringWire();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-chaos-'));
  const pki = makePki(CLUSTERS.map((c) => c.name));
  const rootCaPem = fs.readFileSync(path.join(pki.dir, 'root-cert.pem'), 'utf8');
  const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  const churn: Record<string, number> = {};
  const result: ChaosResult = {
    seed: o.seed,
    cycles: 0,
    faults,
    totalFaults: 0,
    churn,
    settles: 0,
    mismatches: 0,
    problems: [],
    stateFilesChecked: 0,
    leftoverTempFiles: [],
    dir,
  };
  const nodes: Node[] = [];
  let supervisor: NodeJS.Timeout | undefined;
  /** What kept the mesh from quiet at the last check (reported if a settle times out). */
  let quietWhy = '';
  try {
    const relays = CLUSTERS.map((_c, i) => new Relay(() => ports[i]!.xds));
    for (const r of relays) await r.start();
    const free = await freePorts(CLUSTERS.length * 3);
    const ports = CLUSTERS.map((_c, i) => ({ xds: free[3 * i]!, debug: free[3 * i + 1]!, metrics: free[3 * i + 2]! }));
    for (const [i, c] of CLUSTERS.entries()) {
      const relay = relays[i]!;
      const ndir = path.join(dir, c.name);
      const registryDir = path.join(ndir, 'registry');
      fs.mkdirSync(registryDir, { recursive: true });
      const proc = new DaemonProc({
        name: c.name,
        dir: ndir,
        xdsPort: ports[i]!.xds,
        debugPort: ports[i]!.debug,
        config: {
          clusterId: c.name,
          network: c.network,
          xds: { listen: `127.0.0.1:${ports[i]!.xds}` },
          admin: { metricsListen: `127.0.0.1:${ports[i]!.metrics}`, debugListen: `127.0.0.1:${ports[i]!.debug}` },
          registry: { type: 'file', dir: registryDir },
          ca: { dir: path.join(pki.dir, c.name) },
        },
      });
      nodes.push({
        index: i,
        name: c.name,
        network: c.network,
        proc,
        relay,
        model: new ClusterModel(i, registryDir),
        registryDir,
        zt: [],
        ztOpts: [],
      });
    }
    for (const n of nodes) {
      n.model.writeStatic({
        'namespaces.yaml': [
          namespaceYaml('istio-system'),
          namespaceYaml('istio-gateways'),
          namespaceYaml('shop', { 'solo.io/service-scope': 'global' }),
          namespaceYaml('local'),
        ].join('---\n'),
        'eastwest.yaml': eastWest({ network: n.network, cluster: n.name }),
        'peers.yaml': nodes
          .filter((p) => p !== n)
          .map((p) => remote({ cluster: p.name, network: p.network, port: p.relay.port }))
          .join('---\n'),
      });
      n.model.seed();
      n.proc.mintToken();
    }
    const tStart = performance.now();
    await Promise.all(nodes.map((n) => n.proc.start()));
    log(`chaos: three daemons ready in ${Math.round(performance.now() - tStart)} ms`);
    log(
      `chaos: seed ${o.seed}; daemons ` +
        nodes.map((n) => `${n.name}=127.0.0.1:${n.proc.spec.xdsPort} (pid ${n.proc.child!.pid})`).join(', ') +
        `; work dir ${dir}`,
    );
    const zPer = o.ztunnelsPerDaemon ?? 2;
    for (const n of nodes) {
      for (let j = 0; j < zPer; j++) {
        const opts: ZtunnelClientOptions = {
          wire,
          address: `127.0.0.1:${n.proc.spec.xdsPort}`,
          rootCaPem,
          serverName: 'istiod.istio-system.svc',
          token: n.proc.token,
          clusterId: n.name,
          podName: `ztunnel-${n.index}-${j}`,
          instanceIp: `10.250.${n.index}.${j + 1}`,
          nodeName: `node-${j}`,
        };
        const z = new ZtunnelClient(opts);
        z.connect();
        n.zt.push(z);
        n.ztOpts.push(opts);
      }
    }
    // Like ztunnel's xDS loop: a stream that ends is re-opened, echoing what the client holds.
    // A new channel each time so grpc's channel backoff after a kill does not stretch the outage.
    supervisor = setInterval(() => {
      for (const n of nodes) {
        if (!n.proc.up || n.proc.paused) continue;
        n.zt.forEach((z, j) => {
          if (!z.status) return;
          const nz = new ZtunnelClient(n.ztOpts[j]!);
          for (const [t, m] of z.state) nz.state.set(t, m);
          z.close();
          nz.connect();
          n.zt[j] = nz;
        });
      }
    }, 100);

    const settleEvery = o.settleEvery ?? 0;
    const faultRate = o.faultRate ?? 0.5;
    for (let c = 1; c <= o.cycles; c++) {
      const n = rng.pick(nodes);
      const kind = n.model.step(rng);
      churn[kind] = (churn[kind] ?? 0) + 1;
      // Short runs still exercise every fault kind: a kind not seen yet is forced near the end.
      const missing = FAULT_KINDS.filter((k) => faults[k] === 0);
      const forced = missing.length > 0 && o.cycles - c < missing.length * 3 ? missing[0] : undefined;
      if (forced || rng.chance(faultRate)) await inject(forced ?? pickFault(rng), nodes, rng, faults, log);
      result.cycles = c;
      // Pacing, not synchronisation: a few ms between churn steps so changes interleave with faults and pushes.
      await new Promise((r) => setTimeout(r, 2 + rng.int(20)));
      if (settleEvery > 0 && c % settleEvery === 0 && c < o.cycles) await settle(c);
    }
    await settle(o.cycles);
    clearInterval(supervisor);
    supervisor = undefined;
    for (const n of nodes) for (const z of n.zt) z.close();
    await Promise.all(nodes.map((n) => n.proc.stop()));
    const sf = checkStateFiles(
      wire,
      nodes.map((n) => ({ name: n.name, stateDir: n.proc.stateDir, logFile: n.proc.logFile })),
    );
    result.stateFilesChecked = sf.checked;
    result.leftoverTempFiles = sf.leftovers;
    for (const l of sf.leftovers)
      log(`chaos: leftover temp file (a write interrupted by kill -9, never cleaned up): ${l}`);
    if (sf.problems.length) {
      result.mismatches += sf.problems.length;
      result.problems.push(...sf.problems);
      for (const p of sf.problems) log(`chaos: state file problem: ${p}`);
    }
    result.totalFaults = Object.values(faults).reduce((a, b) => a + b, 0);
    return result;
  } finally {
    if (supervisor) clearInterval(supervisor);
    for (const n of nodes) {
      clearTimeout(n.resumeTimer);
      for (const z of n.zt) z.close();
      await n.proc.stop().catch(() => undefined);
      await n.proc.kill9().catch(() => undefined);
      await n.relay.close();
    }
    pki.cleanup();
    // A failed run keeps its daemons' logs and state for diagnosis.
    if (!o.keepDir && result.mismatches === 0) fs.rmSync(dir, { recursive: true, force: true });
    else log(`chaos: work dir kept at ${dir}`);
  }

  async function settle(cycle: number): Promise<void> {
    for (const n of nodes) {
      clearTimeout(n.resumeTimer);
      n.proc.resume();
    }
    const t0 = performance.now();
    const truths = nodes.map((n) => truthFromFiles(wire, n.registryDir, n.name, n.network));
    let last: string[] = ['mesh never reported every peer Connected+Synced and every stream in sync'];
    quietWhy = 'not checked yet';
    try {
      let reported = false;
      await waitFor(
        async () => {
          if (!(await meshQuiet())) {
            // A settle normally takes about a second; one that drags says once what it is waiting for.
            if (!reported && performance.now() - t0 > 10_000) {
              reported = true;
              log(`chaos: settle after cycle ${cycle} still waiting after 10 s: ${quietWhy.slice(0, 400)}`);
            }
            return false;
          }
          last = await verify(truths);
          return last.length === 0;
        },
        { timeoutMs: o.settleTimeoutMs ?? 90_000, intervalMs: 250, what: 'settle' },
      );
    } catch {
      /* the last verification's lines are the mismatches; if it never ran, say what kept the mesh from quiet */
      if (last.length === 1 && last[0]!.startsWith('mesh never reported'))
        last = [`${last[0]} (last seen: ${quietWhy})`];
    }
    result.settles++;
    const ms = Math.round(performance.now() - t0);
    if (last.length) {
      result.mismatches += last.length;
      result.problems = last.slice(0, 50);
      log(`chaos: settle after cycle ${cycle}: ${last.length} MISMATCHES (${ms} ms)`);
      for (const l of last.slice(0, 50)) log(`  ${l}`);
    } else {
      log(
        `chaos: settle after cycle ${cycle}: ok in ${ms} ms (` +
          truths
            .map((t) => `${t.cluster} ${t.addresses.size} local addresses, ${t.exported.size} exported`)
            .join('; ') +
          ')',
      );
    }
  }

  /**
   * Every peer Connected+Synced, every long-lived ztunnel streaming, every xDS stream ACKed and with nothing
   * pending.
   */
  async function meshQuiet(): Promise<boolean> {
    const not = (why: string): false => ((quietWhy = why), false);
    for (const n of nodes) {
      if (!n.proc.up) return not(`${n.name} is down`);
      const z = n.zt.findIndex((c) => c.status || TYPES.some((t) => !c.acked.get(t)));
      if (z >= 0) {
        const c = n.zt[z]!;
        // The daemon's side of the same stream, if it has one.
        const sz = await n.proc.debug<SynczDoc>('/debug/syncz');
        const server = sz
          ? `${sz.streams.length} streams; for it or without a node yet: ` +
            JSON.stringify(sz.streams.filter((s) => s.nodeId === c.nodeId || !s.nodeId)).slice(0, 800)
          : 'no syncz';
        const ports = c.sockets().flatMap((k) => (k.localPort === undefined ? [] : [k.localPort]));
        return not(
          `${n.name} ztunnel-${z} (${c.nodeId}): status ${JSON.stringify(c.status)}, ACKed ` +
            `${TYPES.map((t) => c.acked.get(t) ?? 0).join('/')}; ${c.diagnose()}; daemon streams for it: ${server}; ` +
            `sockets: ${kernelSockets(ports)}`,
        );
      }
      const peers = await n.proc.debug<PeersDoc>('/debug/peers');
      if (!peers || peers.peers.length !== nodes.length - 1)
        return not(`${n.name} lists ${peers?.peers.length ?? 'no'} peers`);
      const peer = peers.peers.find(
        (p) => p.conditions.Connected?.status !== 'True' || p.conditions.Synced?.status !== 'True',
      );
      if (peer) return not(`${n.name} peer ${JSON.stringify(peer).slice(0, 600)}`);
      const sz = await n.proc.debug<SynczDoc>('/debug/syncz');
      const lagging = sz?.streams.find((s) => !s.inSync);
      if (!sz || lagging) return not(`${n.name} stream ${JSON.stringify(lagging ?? 'no syncz').slice(0, 600)}`);
      const missing = n.zt.find((c) => !sz.streams.some((s) => s.nodeId === c.nodeId));
      if (missing) return not(`${n.name} has no stream for ${missing.nodeId}`);
    }
    return true;
  }

  /** A fresh ztunnel per daemon: its state vs the ground truth, and every long-lived ztunnel's held state vs it. */
  async function verify(truths: ClusterTruth[]): Promise<string[]> {
    const bad: string[] = [];
    for (const n of nodes) {
      const fresh = new ZtunnelClient({
        ...n.ztOpts[0]!,
        podName: `fresh-${n.index}`,
        instanceIp: `10.251.${n.index}.1`,
      });
      try {
        fresh.connect();
        await waitFor(
          async () => {
            if (fresh.status) throw new Error(`fresh stream ended: ${fresh.status.details}`);
            if (TYPES.some((t) => !fresh.acked.get(t))) return false;
            const sz = await n.proc.debug<SynczDoc>('/debug/syncz');
            return sz?.streams.find((s) => s.nodeId === fresh.nodeId)?.inSync === true;
          },
          { timeoutMs: 10_000, intervalMs: 20, what: `fresh ztunnel on ${n.name} in sync` },
        );
        bad.push(
          ...checkAgainstTruth(
            truths[n.index]!,
            truths.filter((_, i) => i !== n.index),
            fresh.state,
          ),
        );
        n.zt.forEach((z, j) => bad.push(...compareHeld(`${n.name} ztunnel-${j}`, z.state, fresh.state, TYPES)));
      } catch (e) {
        bad.push(`${n.name}: ${(e as Error).message}`);
      } finally {
        fresh.close();
      }
    }
    return bad;
  }
}

/** The kernel's view (ss) of these local ports: both ends, state, owning processes. Best effort. */
function kernelSockets(ports: readonly number[]): string {
  if (ports.length === 0) return 'none open';
  try {
    const filter = ports.map((p) => `sport = :${p} or dport = :${p}`).join(' or ');
    return execFileSync('ss', ['-tanpi', filter], { encoding: 'utf8', timeout: 5000 }).replace(/\s+/g, ' ');
  } catch (e) {
    return `ss failed: ${(e as Error).message.split('\n')[0]}`;
  }
}
