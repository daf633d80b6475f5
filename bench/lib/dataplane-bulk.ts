import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitFor } from '../../pkg/lifecycle';
import type { RigCluster, RigPod } from '../../e2e/dataplane/harness';
import type { GatewayProc } from '../../e2e/dataplane/gateway-proc';
import { spawnInNetns, type NetnsProc } from '../../e2e/dataplane/netns-proc';
import { percentile, sampleProc } from './proc';
import { mintLeaf, RELAY_FLOOR_JS } from './relay-floor';
import type { Figure } from './types';

/** The gateway's SPIFFE id as peers expect it (e2e/dataplane/gateway-proc.ts GATEWAY_IDENTITY). */
const GATEWAY_SPIFFE = 'spiffe://cluster.local/ns/istio-gateways/sa/istio-eastwest';

export interface BulkPath {
  c: RigPod;
  vip: string;
}

/** One measured bulk transfer. */
export interface BulkRun {
  path: 'direct' | 'gateway' | 'bare_h2';
  mbps: number;
  /** CPU-s per GB of the process in the relay's place (gateway or bare relay), and of the client's ztunnel. */
  relayCpuPerGb?: number;
  clientZtunnelCpuPerGb: number;
  /** CPU-s per GB of every process on the path: client agent and ztunnel, relay, the pods' ztunnels and agents. */
  pathCpuPerGb: number;
  /** 1-minute load average right after the run. */
  load1: number;
}

export interface BulkPhase {
  figures: Figure[];
  notes: string[];
  rounds: { pair: number; x: BulkRun; direct: BulkRun; ratio: number }[];
}

async function bulk(p: BulkPath, bytes: number): Promise<number> {
  const r = (await p.c.agent.load({ kind: 'bulk', host: p.vip, port: 80, bytes, streams: 1 })) as {
    ms: number;
    received: number;
  };
  if (r.received !== bytes) throw new Error(`bulk: the app counted ${r.received} of ${bytes} bytes`);
  return (bytes * 8) / (r.ms * 1000);
}

/** The processes of the destination side, shared by both paths: each web pod's ztunnel and agent (its app). */
const podPids = (pods: RigPod[]): number[] => pods.flatMap((p) => [p.ztunnel!.proc.pid, p.agent.proc!.pid]);

async function measured(
  kind: BulkRun['path'],
  p: BulkPath,
  bytes: number,
  relayPid: number | undefined,
  web: RigPod[],
): Promise<BulkRun> {
  const zPid = p.c.ztunnel!.proc.pid;
  const pids = [p.c.agent.proc!.pid, zPid, ...(relayPid === undefined ? [] : [relayPid]), ...podPids(web)];
  const cpu = (): number[] => pids.map((pid) => sampleProc(pid).cpuMs);
  const before = cpu();
  const mbps = await bulk(p, bytes);
  const after = cpu();
  const gb = bytes / 1e9;
  const used = (i: number): number => (after[i]! - before[i]!) / 1000 / gb;
  const relayCpuPerGb = relayPid === undefined ? undefined : used(2);
  const pathCpuPerGb = after.reduce((n, _, i) => n + used(i), 0);
  return { path: kind, mbps, relayCpuPerGb, clientZtunnelCpuPerGb: used(1), pathCpuPerGb, load1: os.loadavg()[0]! };
}

/**
 * The bare node:http2 relay (bench/sim/relay-floor.ts, mode h2) in the gateway's place: B's control-plane
 * namespace, 0.0.0.0:15008, a certificate for the gateway's SPIFFE id from B's intermediate (what the gateway
 * gets from B's CA), callers checked against the rig's shared root, and B's web pods' :15008 round robin.
 */
export async function startBareRelay(b: RigCluster, caDir: string, web: RigPod[], workDir: string): Promise<NetnsProc> {
  const dir = fs.mkdtempSync(path.join(workDir, 'relay-floor-'));
  const leaf = mintLeaf(
    dir,
    'relay',
    { cert: path.join(caDir, 'ca-cert.pem'), key: path.join(caDir, 'ca-key.pem') },
    GATEWAY_SPIFFE,
    fs.readFileSync(path.join(caDir, 'cert-chain.pem'), 'utf8'),
  );
  const cfg = {
    mode: 'h2',
    listen: '0.0.0.0:15008',
    cert: leaf.cert,
    key: leaf.key,
    ca: path.join(caDir, 'root-cert.pem'),
    destinations: web.map((p) => `${p.ip}:15008`),
  };
  const proc = spawnInNetns({
    ns: b.cpNs,
    name: 'relay-floor-h2',
    cmd: process.execPath,
    args: [RELAY_FLOOR_JS, JSON.stringify(cfg)],
    logDir: b.env.logDir,
  });
  await waitFor(
    () => {
      if (proc.exitedAlready()) throw new Error(`relay floor exited:\n${proc.logTail(20)}`);
      return proc.logTail(5).includes('"ev":"ready"');
    },
    { timeoutMs: 20_000, intervalMs: 20, what: 'bare relay listening' },
  );
  return proc;
}

/** The first bulk after a swap: the client ztunnel's pooled outer connection went with the old process. */
async function warm(p: BulkPath): Promise<void> {
  await waitFor(async () => (await bulk(p, 4 << 20)) > 0, { timeoutMs: 30_000, intervalMs: 100, what: 'warm-up bulk' });
  await bulk(p, 16 << 20);
}

/**
 * Bulk throughput, one flow, in pairs: each pair is a direct run and a run through the process in the
 * gateway's place, the order alternating, so a load spike on the shared machine tends to hit both runs of a
 * pair. The process in the gateway's place alternates every two pairs between the gateway and the bare h2
 * relay (one swap per two pairs): [D G] swap [B D] [D B] swap [G D] [D G] swap … The ratio of each pair is
 * X / D; the target is judged on the median over the gateway's pairs.
 */
export async function bulkPhase(o: {
  direct: BulkPath;
  viaGateway: BulkPath;
  gw: GatewayProc;
  b: RigCluster;
  caDir: string;
  web: RigPod[];
  workDir: string;
  bytes: number;
  pairsPerPath: number;
}): Promise<BulkPhase> {
  const rounds: BulkPhase['rounds'] = [];
  const loadStart = os.loadavg();
  let relay: NetnsProc | undefined;
  let onGateway = true;
  let pair = 0;
  const swap = async (): Promise<void> => {
    if (onGateway) {
      await o.gw.stop();
      relay = await startBareRelay(o.b, o.caDir, o.web, o.workDir);
    } else {
      await relay!.stop();
      relay = undefined;
      await o.gw.restart();
      await o.gw.untilRoute('web.shop.mesh.internal', o.web.length);
    }
    onGateway = !onGateway;
    await warm(o.viaGateway);
  };
  try {
    const counts = { gateway: 0, bare_h2: 0 };
    while (counts.gateway < o.pairsPerPath || counts.bare_h2 < o.pairsPerPath) {
      for (let k = 0; k < 2; k++, pair++) {
        const kind = onGateway ? 'gateway' : 'bare_h2';
        if (counts[kind] >= o.pairsPerPath) break;
        const pid = onGateway ? o.gw.proc.pid : relay!.pid;
        const x = (): Promise<BulkRun> => measured(kind, o.viaGateway, o.bytes, pid, o.web);
        const d = (): Promise<BulkRun> => measured('direct', o.direct, o.bytes, undefined, o.web);
        let xr: BulkRun;
        let dr: BulkRun;
        if (pair % 2 === 0) {
          dr = await d();
          xr = await x();
        } else {
          xr = await x();
          dr = await d();
        }
        counts[kind]++;
        rounds.push({ pair, x: xr, direct: dr, ratio: xr.mbps / dr.mbps });
      }
      if (counts.gateway < o.pairsPerPath || counts.bare_h2 < o.pairsPerPath || !onGateway) await swap();
    }
  } finally {
    if (relay) await relay.stop();
  }
  if (!onGateway) throw new Error('bulk phase ended without the gateway in place');
  return summarise(rounds, loadStart);
}

function summarise(rounds: BulkPhase['rounds'], loadStart: number[]): BulkPhase {
  const figures: Figure[] = [];
  const med = (xs: number[]): number => percentile(xs, 50);
  const of = (k: BulkRun['path']): BulkPhase['rounds'] => rounds.filter((r) => r.x.path === k);
  const gw = of('gateway');
  const bare = of('bare_h2');
  const ratios = (rs: BulkPhase['rounds']): number[] => rs.map((r) => r.ratio);
  const cpu = (rs: BulkPhase['rounds']): number[] => rs.map((r) => r.x.relayCpuPerGb!);
  figures.push({ name: 'bulk_direct', value: med(rounds.map((r) => r.direct.mbps)), unit: 'Mbit/s' });
  figures.push({ name: 'bulk_gateway', value: med(gw.map((r) => r.x.mbps)), unit: 'Mbit/s' });
  figures.push({ name: 'bulk_bare_h2_relay', value: med(bare.map((r) => r.x.mbps)), unit: 'Mbit/s' });
  figures.push({
    name: 'bulk_ratio_gateway_vs_direct',
    value: med(ratios(gw)),
    unit: 'x',
    target: { op: '>=', value: 0.5 },
  });
  figures.push({ name: 'bulk_ratio_gateway_vs_direct_min', value: Math.min(...ratios(gw)), unit: 'x' });
  figures.push({ name: 'bulk_ratio_bare_h2_relay_vs_direct', value: med(ratios(bare)), unit: 'x' });
  figures.push({ name: 'bulk_ratio_bare_h2_relay_vs_direct_min', value: Math.min(...ratios(bare)), unit: 'x' });
  figures.push({ name: 'gateway_cpu_per_gb', value: med(cpu(gw)), unit: 'CPU s/GB' });
  figures.push({ name: 'gateway_cpu_per_gb_min', value: Math.min(...cpu(gw)), unit: 'CPU s/GB' });
  figures.push({ name: 'bare_h2_relay_cpu_per_gb', value: med(cpu(bare)), unit: 'CPU s/GB' });
  figures.push({ name: 'gateway_cpu_vs_bare_h2_relay', value: med(cpu(gw)) / med(cpu(bare)), unit: 'x' });
  figures.push({
    name: 'client_ztunnel_cpu_per_gb_double_hbone',
    value: med(gw.map((r) => r.x.clientZtunnelCpuPerGb)),
    unit: 'CPU s/GB',
  });
  figures.push({
    name: 'client_ztunnel_cpu_per_gb_direct',
    value: med(rounds.map((r) => r.direct.clientZtunnelCpuPerGb)),
    unit: 'CPU s/GB',
  });
  const pathCpu = (rs: BulkRun[]): number => med(rs.map((r) => r.pathCpuPerGb));
  const direct = rounds.map((r) => r.direct);
  figures.push({ name: 'path_cpu_per_gb_direct', value: pathCpu(direct), unit: 'CPU s/GB' });
  figures.push({ name: 'path_cpu_per_gb_gateway', value: pathCpu(gw.map((r) => r.x)), unit: 'CPU s/GB' });
  figures.push({ name: 'path_cpu_per_gb_bare_h2_relay', value: pathCpu(bare.map((r) => r.x)), unit: 'CPU s/GB' });
  // CPU-bound on a machine of its own, throughput is about cores / (CPU per byte): the ratio the wall clock
  // approaches on a quiet machine, and one that neighbours' load hardly moves.
  figures.push({
    name: 'bulk_ratio_gateway_vs_direct_cpu_model',
    value: pathCpu(direct) / pathCpu(gw.map((r) => r.x)),
    unit: 'x',
  });
  figures.push({
    name: 'bulk_ratio_bare_h2_relay_vs_direct_cpu_model',
    value: pathCpu(direct) / pathCpu(bare.map((r) => r.x)),
    unit: 'x',
  });
  const f = (x: number): string => x.toFixed(2);
  const notes = [
    `bulk pairs (X/direct ratio, X CPU-s/GB, load1): ${rounds
      .map((r) => `${r.x.path} ${f(r.ratio)} ${f(r.x.relayCpuPerGb!)} ${f(r.x.load1)}`)
      .join('; ')}`,
    `bulk phase load average at start ${loadStart.map(f).join(' ')}, at end ${os.loadavg().map(f).join(' ')}`,
  ];
  return { figures, notes, rounds };
}
