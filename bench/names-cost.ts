/**
 * CPU a subscribed resource name costs the daemon, in isolation (issue 18's
 * 8 M-name flood): the attack's own message shape (350,000 9-character names,
 * 3.85 MB) fed through the server's request path — scanDeltaRequest, the
 * RequestPump's slices, XdsStream.onRequest (Subscription, owed names) and the
 * answers (removed_resources, ANSWER_SLICE a response, written to a sink that
 * completes on the next turn) — against a cache of 10,000 workloads. Stages are
 * also timed alone. No sockets: what is measured is our code, not TLS.
 *
 *   node --expose-gc dist/bench/names-cost.js [messages=3]   → bench/results/names-cost.json
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { loadWire, scanDeltaRequest, TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../pkg/wire';
import {
  ResourceCache,
  entryFromBytes,
  XdsStream,
  RequestPump,
  createXdsMetrics,
  Subscription,
  OwedNames,
} from '../pkg/xds';
import { createSilentLogger } from '../pkg/log';
import { systemClock, waitFor } from '../pkg/lifecycle';
import { namesFloodRequest } from './lib/attacks';

const PER = 350_000;

/** The attack's message (as bench/sim/attack-sim.ts sends it, without the gRPC prefix). */
const namesMessage = (from: number): Buffer => namesFloodRequest(from, PER);

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function main(): Promise<void> {
  const messages = Number(process.argv[2] ?? 3);
  const wire = loadWire();
  const REQ = wire.DeltaDiscoveryRequest;
  const msgs = Array.from({ length: messages }, (_, k) => namesMessage(k * PER));
  const total = messages * PER;
  const figures: Record<string, number> = {};

  // Stage: scan (validation, names left as byte ranges).
  let t = cpuUs();
  const scanned = msgs.map((m) => scanDeltaRequest(REQ, m));
  figures.scan_us_per_name = (cpuUs() - t) / total;
  // Stage: strings, one 512-name slice at a time (what the pump makes).
  t = cpuUs();
  const lists: string[][] = [];
  for (const s of scanned) for (let i = 0; i < PER; i += 512) lists.push(s.subscribe.strings(i, i + 512));
  figures.strings_us_per_name = (cpuUs() - t) / total;
  // Stage: Subscription.apply (its NameTable) with owed names recorded; and a plain Set as the baseline,
  // with the costliest single 512-name slice of each (a Set's growth rehashes every entry in one step).
  const slices = (add: (l: string[]) => void): { perName: number; worstSliceMs: number } => {
    let worst = 0;
    const t0 = cpuUs();
    for (const l of lists) {
      const a = cpuUs();
      add(l);
      worst = Math.max(worst, cpuUs() - a);
    }
    return { perName: (cpuUs() - t0) / total, worstSliceMs: worst / 1000 };
  };
  const plain = new Set<string>();
  const base = slices((l) => {
    for (const n of l) plain.add(n);
  });
  plain.clear();
  let sub: Subscription | undefined = new Subscription();
  const owed = { force: new OwedNames(), unsubNotify: new Set<string>() };
  const table = slices((l) => sub!.apply(l, [], owed));
  figures.apply_us_per_name = table.perName;
  figures.apply_worst_slice_cpu_ms = table.worstSliceMs;
  figures.plain_set_us_per_name = base.perName;
  figures.plain_set_worst_slice_cpu_ms = base.worstSliceMs;
  lists.length = 0;
  // Nothing of the stages above stays live into the end-to-end phase (its collections are measured).
  sub = undefined;
  owed.force.clear();
  (globalThis as { gc?: () => void }).gc?.();

  // End to end through the server's path.
  const cache = new ResourceCache({});
  const ups = [];
  for (let i = 0; i < 10_000; i++) {
    ups.push(entryFromBytes(TYPE_ADDRESS, `Kubernetes//Pod/default/w-${i}`, Buffer.alloc(120, i & 255)));
  }
  cache.commit([{ typeUrl: TYPE_ADDRESS, upserts: ups }]);
  let responses = 0;
  let closed = '';
  const stream = new XdsStream({
    id: '1',
    cache,
    logger: createSilentLogger(),
    clock: systemClock,
    metrics: createXdsMetrics(new Registry()),
    typeOrder: [TYPE_ADDRESS, TYPE_AUTHORIZATION],
    maxNames: 10 * total,
    sink: {
      write(_buf, done) {
        responses++;
        setImmediate(done);
      },
      close(code, details) {
        closed = `${code} ${details}`;
      },
    },
  });
  const pump = new RequestPump({
    decode: (b) => scanDeltaRequest(REQ, b),
    apply: (r) => stream.onRequest(r),
    sliceable: () => true,
    closed: () => stream.isClosed,
    read: { pauseReading: () => undefined, resumeReading: () => undefined },
    namesPerSecond: 1e12,
    bytesPerSecond: 1e15,
    workMsPerSecond: 1e9,
    now: () => performance.now(),
  });
  pump.push(Buffer.from(REQ.encode(REQ.fromObject({ typeUrl: TYPE_ADDRESS })).finish()));
  await waitFor(() => responses >= 1, { timeoutMs: 10_000, what: 'first response' });
  const r0 = responses;
  // Garbage-collection pauses during the end-to-end phase (main thread): what a flood adds to other streams'
  // latency. Minor = scavenge; major = mark-compact (its final atomic pause; incremental steps are not entries).
  const pauses = { minor: [] as number[], major: [] as number[] };
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR ? pauses.major : pauses.minor).push(e.duration);
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  t = cpuUs();
  const wall = performance.now();
  for (const m of msgs) pump.push(m);
  // Every name answered: ANSWER_SLICE names a response.
  const owedNow = (): number => stream.status().types[0]?.explicitNames ?? 0;
  await waitFor(() => pump.idle && owedNow() === total && responses - r0 >= Math.ceil(total / 512), {
    timeoutMs: 600_000,
    what: 'every name applied and answered',
    intervalMs: 5,
  });
  figures.end_to_end_us_per_name = (cpuUs() - t) / total;
  figures.end_to_end_wall_s = (performance.now() - wall) / 1000;
  figures.responses = responses - r0;
  await new Promise((r) => setImmediate(r)); // the observer's last entries
  obs.disconnect();
  const sum = (a: number[]): number => a.reduce((x, y) => x + y, 0);
  figures.gc_minor_count = pauses.minor.length;
  figures.gc_minor_max_ms = Math.max(0, ...pauses.minor);
  figures.gc_minor_total_ms = sum(pauses.minor);
  figures.gc_major_count = pauses.major.length;
  figures.gc_major_max_ms = Math.max(0, ...pauses.major);
  figures.gc_major_total_ms = sum(pauses.major);
  if (closed) throw new Error(`stream closed: ${closed}`);
  // What the collector walks while a stream holds every name (load-independent, unlike the pauses above):
  // live heap after a full collection, and the CPU of that collection (main and helper threads).
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    t = cpuUs();
    gc();
    figures.full_gc_cpu_ms_holding_names = (cpuUs() - t) / 1000;
    figures.heap_used_mib_holding_names = process.memoryUsage().heapUsed / 1048576;
    figures.external_mib_holding_names = process.memoryUsage().external / 1048576;
  }
  const result = {
    scenario: 'names-cost',
    machine: {
      cores: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      node: process.version,
      loadAverage: os.loadavg(),
    },
    params: { messages, namesPerMessage: PER, cacheEntries: 10_000 },
    figures,
    notes: ['process.cpuUsage (user+sys, GC threads included) divided by names; stages measured alone first'],
  };
  const out = path.join(__dirname, '..', '..', 'bench', 'results', 'names-cost.json');
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result));
  stream.dispose();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
