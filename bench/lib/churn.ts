import * as path from 'node:path';
import { podYaml, ipFor, writeAtomic } from './mesh-gen';
import type { SimProc } from './sim-proc';
import { wallNow } from './sim-proc';

/**
 * Pod replacements at a fixed rate: each replacement rewrites one of `slots`
 * churn files with a new pod (new name, new IP) — the old pod is deleted and
 * the new one created, as a rolling Deployment does. Every new uid is tracked
 * by the simulator so each ztunnel receipt is a latency sample.
 */
export async function churn(o: {
  reg: string;
  sim: SimProc;
  ratePerSec: number;
  seconds: number;
  slots: number;
  cluster: string;
  services: number;
  startGen: number;
}): Promise<number> {
  const total = Math.round(o.ratePerSec * o.seconds);
  const interval = 1000 / o.ratePerSec;
  const start = performance.now();
  for (let k = 0; k < total; k++) {
    const due = start + k * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait)); // pacing the load generator, not synchronisation
    const gen = o.startGen + k;
    const slot = gen % o.slots;
    const s = slot % o.services;
    const ns = `ns-${s % 10}`;
    const name = `churn-${slot}-g${gen}`;
    o.sim.send({ cmd: 'track', uid: `${o.cluster}//Pod/${ns}/${name}`, t0: wallNow() });
    writeAtomic(
      path.join(o.reg, `churn-${slot}.yaml`),
      podYaml(ns, name, `app-${s}`, ipFor(0x300000 + (gen % 0xfffff)), `node-${slot % 100}`),
    );
  }
  return total;
}
