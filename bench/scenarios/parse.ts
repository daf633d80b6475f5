/**
 * Registry parse cost (issue #18 item 2): the same input parsed on the event
 * loop (parseManifest inline, what the daemon did before) and in the parser
 * worker (ParserHost, what it does now). Each measurement runs in a fresh
 * process (peak RSS is per process). Figures: wall time, the longest event-loop
 * stall seen by a 5 ms timer during the parse, and the process's peak RSS.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createSilentLogger } from '../../pkg/log';
import { ParserHost, parseManifest } from '../../pkg/registry';
import type { Figure, ScenarioResult } from '../lib/types';

type Shape = 'pods' | 'flat';
interface Sample {
  ms: number;
  stallMs: number;
  peakMiB: number;
  outcome: string;
}

function pod(i: number): string {
  return `apiVersion: v1
kind: Pod
metadata: { name: pod-${i}, namespace: ns-${i % 10}, labels: { app: app-${i % 100} } }
spec: { nodeName: node-${i % 100}, serviceAccountName: app-${i % 100}, containers: [{ name: c,
  ports: [{ containerPort: 8080 }] }] }
status: { phase: Running, podIP: 10.1.${(i >> 8) & 255}.${i & 255}, conditions: [{ type: Ready, status: "True" }] }
`;
}

function input(shape: Shape, mb: number): string {
  const bytes = mb * 1024 * 1024;
  if (shape === 'flat') return `items:\n${'- a\n'.repeat(Math.floor(bytes / 4))}`;
  const docs: string[] = [];
  for (let i = 0, len = 0; len < bytes; i++) {
    const d = pod(i);
    docs.push(d);
    len += d.length + 4;
  }
  return docs.join('---\n');
}

async function child(shape: Shape, mb: number, mode: 'inline' | 'worker'): Promise<Sample> {
  const text = input(shape, mb);
  let stallMs = 0;
  let last = performance.now();
  const tick = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last - 5);
    last = now;
  }, 5);
  await new Promise((r) => setTimeout(r, 20)); // the timer has ticked once before the parse starts
  const t0 = performance.now();
  let outcome: string;
  if (mode === 'inline') {
    const p = parseManifest(text, 'bench.yaml');
    outcome = p.errors[0]?.reason ?? `${p.objects.length} objects`;
  } else {
    const host = new ParserHost({ logger: createSilentLogger() });
    const o = await host.parse('bench.yaml', text);
    outcome = o.ok ? (o.parsed.errors[0]?.reason ?? `${o.parsed.objects.length} objects`) : o.reason;
    await host.close();
  }
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(tick);
  const hwm = /VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
  return { ms, stallMs, peakMiB: Number(hwm) / 1024, outcome };
}

export async function run(o: { mode: 'quick' | 'full' }): Promise<ScenarioResult> {
  const cases: [Shape, number, 'inline' | 'worker'][] = [
    ['pods', 1, 'inline'],
    ['pods', 1, 'worker'],
    ['flat', 30, 'worker'],
    ...(o.mode === 'full' ? [['flat', 1, 'inline'] as [Shape, number, 'inline']] : []),
  ];
  const figures: Figure[] = [];
  const notes: string[] = [];
  for (const [shape, mb, mode] of cases) {
    const out = execFileSync(process.execPath, [__filename, 'child', shape, String(mb), mode], {
      maxBuffer: 1 << 20,
    }).toString();
    const s = JSON.parse(out) as Sample;
    const k = `${shape}_${mb}mb_${mode}`;
    figures.push({ name: `${k}_ms`, value: s.ms, unit: 'ms' });
    // The point of the worker: the daemon's event loop keeps serving while a file parses.
    const stallTarget = mode === 'worker' ? { op: '<=' as const, value: 250 } : undefined;
    figures.push({
      name: `${k}_loop_stall_ms`,
      value: s.stallMs,
      unit: 'ms',
      ...(stallTarget ? { target: stallTarget } : {}),
    });
    figures.push({ name: `${k}_peak_rss_mib`, value: s.peakMiB, unit: 'MiB' });
    notes.push(`${k}: ${s.outcome}`);
  }
  return { scenario: 'parse', params: { mode: o.mode, cases }, figures, notes };
}

if (require.main === module && process.argv[2] === 'child') {
  void child(process.argv[3] as Shape, Number(process.argv[4]), process.argv[5] as 'inline' | 'worker').then((s) => {
    process.stdout.write(JSON.stringify(s));
  });
}
