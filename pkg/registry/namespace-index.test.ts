import t from 'tap';
import { NamespaceIndex } from './namespace-index';

/** Deterministic pseudo-random numbers (LCG), so a failure replays. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const asSorted = (s: ReadonlySet<string> | undefined): string[] => [...(s ?? [])].sort();

t.test('every frozen table equals a model of sets, and later writes never change it', async (t) => {
  const idx = new NamespaceIndex();
  const model = new Map<string, Set<string>>();
  const kept: { table: ReadonlyMap<string, ReadonlySet<string>>; copy: Map<string, string[]> }[] = [];
  const rand = rng(20);
  for (let step = 0; step < 60; step++) {
    // Enough keys that a namespace grows past one shard table (4,096 entries) and then shrinks again.
    for (let i = 0; i < 400; i++) {
      const ns = `ns-${Math.floor(rand() * 3)}`;
      const key = `${ns}/pod-${Math.floor(rand() * 6000)}`;
      if (rand() < (step < 40 ? 0.8 : 0.1)) {
        idx.add(key);
        (model.get(ns) ?? model.set(ns, new Set()).get(ns)!).add(key);
      } else {
        idx.delete(key);
        model.get(ns)?.delete(key);
        if (model.get(ns)?.size === 0) model.delete(ns);
      }
    }
    const table = idx.freeze();
    t.same([...table.keys()].sort(), [...model.keys()].sort(), `step ${step}: namespaces`);
    for (const [ns, keys] of model) {
      const got = table.get(ns)!;
      t.equal(got.size, keys.size, `step ${step}: ${ns} size`);
      if (asSorted(got).join() !== [...keys].sort().join()) t.fail(`step ${step}: ${ns} keys differ`);
      let each = 0;
      got.forEach((v, k, set) => {
        if (v !== k || set !== got || !keys.has(v)) t.fail(`forEach gave ${v}, ${k}`);
        each++;
      });
      t.equal(each, keys.size, `step ${step}: ${ns} forEach visits each key once`);
      for (const k of keys) if (!got.has(k)) t.fail(`${k} missing`);
    }
    kept.push({ table, copy: new Map([...model].map(([ns, s]) => [ns, [...s].sort()])) });
  }
  for (const [i, { table, copy }] of kept.entries()) {
    const now = new Map([...table].map(([ns, s]) => [ns, asSorted(s)]));
    if (JSON.stringify([...now].sort()) !== JSON.stringify([...copy].sort())) t.fail(`table ${i} changed later`);
  }
  t.pass(`${kept.length} frozen tables unchanged by later writes`);
});

t.test('a namespace not written since the last freeze keeps the same view; an emptied one is dropped', async (t) => {
  const idx = new NamespaceIndex();
  idx.add('a/1');
  idx.add('b/1');
  const s1 = idx.freeze();
  t.equal(idx.freeze(), s1, 'no write: the same table');
  idx.add('a/2');
  const s2 = idx.freeze();
  t.not(s2, s1);
  t.equal(s2.get('b'), s1.get('b'), 'unwritten namespace shared');
  t.not(s2.get('a'), s1.get('a'));
  t.same(asSorted(s1.get('a')), ['a/1'], 'the older view is untouched');
  idx.add('a/2'); // already present: not a write
  t.equal(idx.freeze(), s2);
  idx.delete('b/1');
  idx.delete('b/404'); // absent: not a write
  const s3 = idx.freeze();
  t.equal(s3.has('b'), false, 'emptied namespace dropped');
  t.same([...s3.get('a')!.entries()].sort(), [
    ['a/1', 'a/1'],
    ['a/2', 'a/2'],
  ]);
});
