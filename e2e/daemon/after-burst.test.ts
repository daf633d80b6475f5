import t from 'tap';
import { waitFor } from '../../pkg/lifecycle';
import { startDaemon } from '../harness/daemon-fixture';
import { applyRuntime } from '../../cmd/ambientd/runtime';
import { createSilentLogger } from '../../pkg/log';
import { TYPE_ADDRESS } from '../../pkg/wire';

/** n ready pods in an ambient namespace: a first push of n workloads. */
function manyPods(n: number): string {
  const docs = [
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: big, labels: { istio.io/dataplane-mode: ambient } }\n',
  ];
  for (let i = 0; i < n; i++) {
    docs.push(
      `apiVersion: v1\nkind: Pod\nmetadata: { name: p-${i}, namespace: big }\n` +
        `spec: { nodeName: n1, containers: [{ name: c }] }\n` +
        `status: { phase: Running, podIP: 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}, ` +
        `conditions: [{ type: Ready, status: "True" }] }\n`,
    );
  }
  return docs.join('---\n');
}

t.test(
  'after a first sync of runtime.gcBurstResources or more the daemon asks for one full collection once pushes go quiet',
  async (t) => {
    let calls = 0;
    const f = await startDaemon({
      files: { 'big.yaml': manyPods(2_100) },
      flags: { 'runtime-gc-after-burst': '50ms', 'runtime-gc-burst-resources': '2000' },
      deps: { collectGarbage: () => void calls++ },
    });
    t.teardown(() => f.close());
    await waitFor(() => calls > 0, { timeoutMs: 20_000, what: 'a collection after the burst' });
    t.equal(calls, 1, 'one collection for the burst');
  },
);

t.test('no collection is scheduled for a daemon whose pushes stay small', async (t) => {
  let calls = 0;
  const f = await startDaemon({
    files: { 'small.yaml': manyPods(50) },
    flags: { 'runtime-gc-after-burst': '1ms', 'runtime-gc-burst-resources': '2000' },
    deps: { collectGarbage: () => void calls++ },
  });
  t.teardown(() => f.close());
  // Three more pushes, each waited for through the served state; none adds up to a burst.
  for (let k = 0; k < 3; k++) {
    f.write('small.yaml', manyPods(51 + k));
    await waitFor(() => f.daemon.cache.size(TYPE_ADDRESS) === 51 + k, { timeoutMs: 10_000, what: `push ${k}` });
  }
  t.equal(calls, 0);
});

t.test('the runtime hook runs a real full collection: an unreachable object is gone after it', async (t) => {
  const collect = applyRuntime({ heapGrowthPercent: 25, gcAfterBurst: 1, gcBurstResources: 1 }, createSilentLogger());
  t.ok(collect, 'enabled by gcAfterBurst > 0');
  let ref: WeakRef<object> | undefined;
  (() => {
    ref = new WeakRef({ big: new Array(1000).fill('x') });
  })();
  await new Promise<void>((r) => setImmediate(r)); // WeakRef targets survive until the current job ends
  collect!();
  await waitFor(() => ref!.deref() === undefined, { timeoutMs: 10_000, what: 'the object to be collected' });
  t.equal(
    applyRuntime({ heapGrowthPercent: 0, gcAfterBurst: 0, gcBurstResources: 1 }, createSilentLogger()),
    undefined,
    'gcAfterBurst 0: no hook',
  );
});
