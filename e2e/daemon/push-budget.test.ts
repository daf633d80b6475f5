import t, { type Test } from 'tap';
import { Registry } from 'prom-client';
import { TYPE_ADDRESS } from '../../pkg/wire';
import { startDaemon, type DaemonFixture } from '../harness/daemon-fixture';

const NS = 'apiVersion: v1\nkind: Namespace\nmetadata: { name: churn, labels: { istio.io/dataplane-mode: ambient } }\n';

/** One ready pod whose IP encodes `gen`, so each write is a change. */
function pod(gen: number): string {
  return (
    `apiVersion: v1\nkind: Pod\nmetadata: { name: p, namespace: churn }\n` +
    `spec: { nodeName: n1, containers: [{ name: c }] }\n` +
    `status: { phase: Running, podIP: 10.1.${(gen >> 8) & 255}.${gen & 255}, ` +
    `conditions: [{ type: Ready, status: "True" }] }\n`
  );
}

/** `n` ready pods p-0.. in the churn namespace, one file. */
function pods(n: number): string {
  const docs: string[] = [];
  for (let i = 0; i < n; i++) {
    docs.push(
      `apiVersion: v1\nkind: Pod\nmetadata: { name: p-${i}, namespace: churn }\n` +
        `spec: { nodeName: n1, containers: [{ name: c }] }\n` +
        `status: { phase: Running, podIP: 10.2.${(i >> 8) & 255}.${i & 255}, ` +
        `conditions: [{ type: Ready, status: "True" }] }\n`,
    );
  }
  return docs.join('---\n');
}

/**
 * `n` changes, each written once the ztunnel holds the previous one, after one push of `bulk` pods when given;
 * returns the paced-push count and how often holding was turned off.
 */
async function changes(t: Test, budget: string, n: number, bulk = 0): Promise<{ paced: number; off: number }> {
  const metrics = new Registry();
  const f: DaemonFixture = await startDaemon({
    files: { 'ns.yaml': NS, 'pod.yaml': pod(0) },
    flags: { 'xds-push-budget-percent': budget },
    deps: { metrics },
  });
  t.teardown(() => f.close());
  const c = f.ztunnel();
  c.connect();
  const uid = 'c1//Pod/churn/p';
  const ipOf = (): string | undefined => {
    const w = c.held(TYPE_ADDRESS).get(uid)?.value.workload as { addresses?: Buffer[] } | undefined;
    return w?.addresses?.[0] ? [...w.addresses[0]].join('.') : undefined;
  };
  await c.until(() => ipOf() === '10.1.0.0', 'the first pod');
  if (bulk > 0) {
    f.write('bulk.yaml', pods(bulk));
    await c.until(() => c.held(TYPE_ADDRESS).size > bulk, `the ${bulk} pods`, 60_000);
  }
  for (let g = 1; g <= n; g++) {
    f.write('pod.yaml', pod(g));
    await c.until(() => ipOf() === `10.1.${(g >> 8) & 255}.${g & 255}`, `change ${g}`);
  }
  const counter = async (name: string): Promise<number> => {
    const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(await metrics.getSingleMetricAsString(name));
    t.ok(m, `${name} is exported`);
    return Number(m![1]);
  };
  return { paced: await counter('ambientd_push_paced_total'), off: await counter('ambientd_push_budget_off_total') };
}

t.test('each fan-out settles its push: sequential changes under a full budget never wait for it', async (t) => {
  // A push that was never settled would hold the next one until debounceMax and count as paced.
  const { paced, off } = await changes(t, '100', 20);
  t.equal(paced, 0);
  t.equal(off, 0, 'nothing was held, so holding was never turned off');
});

t.test('a 1 % budget holds the change after an expensive push, not every sequential change; all arrive', async (t) => {
  // A 1 % budget holds 10 ms of loop time. Building, encoding and writing 5,000 Addresses takes longer than that
  // (~5 µs a resource to encode alone), so the change after that push waits for the budget.
  const { paced, off } = await changes(t, '1', 20, 5000);
  t.ok(paced > 0, `${paced} pushes waited for the budget`);
  t.ok(off > 0, `holding was turned off ${off} times (ambientd_push_budget_off_total)`);
  // Each change here waits for the previous one to arrive, so no hold gains a change: after the first miss
  // holding is off for 1 s, then 2, 4, 8 s (PushBudget.missed), not one hold per change as the debt would ask.
  t.ok(paced < 10, `${paced} of 20 sequential changes were held`);
});

t.test('the budget is off at 0 and out of range above 100', async (t) => {
  t.equal((await changes(t, '0', 5)).paced, 0);
  await t.rejects(startDaemon({ flags: { 'xds-push-budget-percent': '101' } }), /pushBudgetPercent/);
});
