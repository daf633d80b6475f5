import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TYPE_ADDRESS } from '../../pkg/wire';
import { connectZtunnel, getJson, pod, removals, rssMiB, startAttackDaemon, untilSynced } from './attack-fixture';

// Issue #18 item 2: a 30 MB flat-list YAML file (under the 32 MiB byte cap) used to block the
// event loop from the first second, grow RSS to 4.8 GB and abort with "Reached heap limit";
// a restart with the file present died again. Parsing now runs in a worker thread under node
// limits, a heap cap and a time budget.

const MB30 = 30 * 1024 * 1024;
/**
 * Peak RSS bound of the daemon process (VmHWM): idle ~130 MiB; the file's text is held twice (read, worker
 * copy), and a file just under registry.maxNodes costs the worker ~250 MiB.
 */
const PEAK_RSS_MIB = 512;

/** Written aside and renamed in, as an attacker (or kubectl) would: the daemon only ever sees the whole file. */
function writeBomb(dir: string): void {
  const line = '- a\n';
  fs.writeFileSync(path.join(dir, '.bomb.yaml.tmp'), `items:\n${line.repeat(Math.floor((MB30 - 7) / line.length))}`);
  fs.renameSync(path.join(dir, '.bomb.yaml.tmp'), path.join(dir, 'bomb.yaml'));
}

/** Polls /ready until cond(): every answer must come within 2 s (the event loop is not blocked). */
async function readyWhile(
  port: number,
  done: () => Promise<boolean>,
  timeoutMs: number,
): Promise<{ polls: number; worstMs: number }> {
  let polls = 0;
  let worstMs = 0;
  for (const deadline = Date.now() + timeoutMs; ;) {
    const t0 = performance.now();
    const r = await getJson(port, '/ready', 2000);
    worstMs = Math.max(worstMs, performance.now() - t0);
    if (r.status !== 200) throw new Error(`not ready: ${JSON.stringify(r.body)}`);
    polls++;
    if (await done()) return { polls, worstMs };
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
  }
}

t.test(
  'a 30 MB flat-list YAML: rejected alone with a reason, the daemon serves throughout; a restart comes up',
  async (t) => {
    const d = await startAttackDaemon(t);
    const z = await connectZtunnel(t, d);
    await untilSynced(z);
    writeBomb(d.registryDir);
    const rejected = async (): Promise<boolean> => {
      const rz = (await getJson(d.debugPort, '/debug/registryz')).body;
      return rz.rejected.some((r: { origin: string }) => r.origin === 'bomb.yaml');
    };
    const during = await readyWhile(d.debugPort, rejected, 60_000);
    t.ok(
      during.polls >= 1,
      `ready answered ${during.polls} time(s) while the file was read and parsed` +
        ` (worst ${Math.round(during.worstMs)} ms)`,
    );
    const rz = (await getJson(d.debugPort, '/debug/registryz')).body;
    t.match(
      rz.rejected.find((r: { origin: string }) => r.origin === 'bomb.yaml'),
      { reason: /file rejected: more than 250000 YAML nodes/ },
    );
    // xDS still served: a new file reaches the connected client, and a new client syncs.
    fs.writeFileSync(path.join(d.registryDir, 'after.yaml'), pod('after', '10.0.3.1'));
    await z.until(() => z.held(TYPE_ADDRESS).has('c1//Pod/default/after'), 'a change after the bomb');
    const z2 = await connectZtunnel(t, d, { podName: 'ztunnel-late' });
    await untilSynced(z2);
    t.same(removals(z), [], 'nothing withdrawn');
    const rss = rssMiB(d.p.child.pid!);
    t.ok(
      rss.peak < PEAK_RSS_MIB,
      `peak RSS ${Math.round(rss.peak)} MiB < ${PEAK_RSS_MIB} MiB (now ${Math.round(rss.rss)} MiB)`,
    );

    // Restart with the file present, the node limit raised so the parse really runs out of its
    // worker's heap: the worker dies, the daemon comes up and serves.
    d.p.signal('SIGTERM');
    t.match(await d.p.waitExit(30_000), { code: 0 });
    const d2 = await startAttackDaemon(t, {
      dirs: { dir: d.dir },
      serveTimeoutMs: 120_000,
      extraFlags: ['--registry-max-nodes=100000000', '--registry-parser-heap-mb=128'],
    });
    const ready = await getJson(d2.debugPort, '/ready');
    t.equal(ready.status, 200, 'ready after the restart');
    const rz2 = (await getJson(d2.debugPort, '/debug/registryz')).body;
    // Whichever bound the parse meets first (the 30 s budget, or the 128 MiB heap) ends the worker only.
    const why = rz2.rejected.find((r: { origin: string }) => r.origin === 'bomb.yaml');
    t.match(why, { reason: /longer than 30000 ms|more than the parser's 128 MiB heap/ }, `rejected: ${why?.reason}`);
    const z3 = await connectZtunnel(t, d2, { podName: 'ztunnel-after-restart' });
    await untilSynced(z3);
    await z3.until(
      () => z3.held(TYPE_ADDRESS).has('c1//Pod/default/after'),
      'the other files served after the restart',
    );
    const rss2 = rssMiB(d2.p.child.pid!);
    t.ok(rss2.peak < PEAK_RSS_MIB, `peak RSS after the restart ${Math.round(rss2.peak)} MiB < ${PEAK_RSS_MIB} MiB`);
  },
);
