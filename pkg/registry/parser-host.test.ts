import t from 'tap';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { createSilentLogger } from '../log';
import { ParserHost } from './index';

t.test('a file that exhausts the worker heap is rejected; the next file parses in a new worker', async (t) => {
  const host = new ParserHost({
    logger: createSilentLogger(),
    heapMb: 48,
    timeoutMs: 60_000,
    limits: { maxNodes: 100_000_000 },
  });
  t.teardown(() => host.close());
  // ~250k-item flat list per MB costs ~200 MB of CST per MB (manifest.ts): 4 MB cannot fit in 48 MiB.
  const big = await host.parse('big.yaml', `items:\n${'- a\n'.repeat(1_000_000)}`);
  t.match(big, { ok: false, reason: /more than the parser's 48 MiB heap|parser exited/ });
  t.equal(host.restarts, 1, 'the worker was replaced, this process lives on');
  const small = await host.parse('ok.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n');
  t.match(small, { ok: true, parsed: { objects: [{ origin: 'ok.yaml#0' }], errors: [] } });
});

t.test('parses queue one at a time and answer in order', async (t) => {
  const host = new ParserHost({ logger: createSilentLogger() });
  t.teardown(() => host.close());
  const names = ['a', 'b', 'c'];
  const out = await Promise.all(
    names.map((n) => host.parse(`${n}.yaml`, `kind: Namespace\napiVersion: v1\nmetadata: {name: ${n}}\n`)),
  );
  t.same(
    out.map((o) => (o.ok ? (o.parsed.objects[0]!.obj['metadata'] as { name: string }).name : o.reason)),
    names,
  );
});

t.test('the queue does not keep the last parsed file once its caller has dropped it', async (t) => {
  // A full collection on demand: V8's own gc function, exposed for this test only.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const host = new ParserHost({ logger: createSilentLogger() });
  t.teardown(() => host.close());
  const parsed = await (async (): Promise<WeakRef<object>> => {
    const o = await host.parse('a.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n');
    if (!o.ok) throw new Error(o.reason);
    return new WeakRef(o.parsed);
  })();
  // A WeakRef's target stays alive until the job that made it ends: collect on a later turn.
  await new Promise((r) => setImmediate(r));
  gc();
  t.equal(parsed.deref(), undefined, 'nothing the host holds reaches the parsed objects');
});
