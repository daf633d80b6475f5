import t from 'tap';
import type { StringMap } from '../model';
import { selectorMatches } from './context';
import { KeySet } from './key-set';
import { SelectorIndex } from './selector-index';
import { rng } from './testing/util';

// The index must return exactly what the linear scan it replaced returned: every item whose selector matches, in
// insertion order.
t.test('SelectorIndex.match equals a linear scan over random selectors and labels', async (t) => {
  const r = rng(20261206);
  const pick = <T>(l: readonly T[]): T => l[Math.floor(r() * l.length)]!;
  const keys = ['app', 'tier', 'version', 'team'];
  const values = ['a', 'b', 'c'];
  const labelsOf = (max: number): StringMap => {
    const l: Record<string, string> = {};
    for (let i = 0; i < max; i++) if (r() < 0.6) l[pick(keys)] = pick(values);
    return l;
  };
  let mismatches = 0;
  let multi = 0;
  for (let round = 0; round < 50; round++) {
    const n = 1 + Math.floor(r() * 30);
    const items = Array.from({ length: n }, (_, i) => ({ name: `s${i}`, selector: labelsOf(3) }));
    const idx = new SelectorIndex<{ name: string; selector: StringMap }, string>((l) => l.map((i) => i.name).join());
    for (const i of items) idx.add(i, Object.entries(i.selector));
    for (let q = 0; q < 40; q++) {
      const labels = labelsOf(4);
      const want = items.filter((i) => selectorMatches(i.selector, labels));
      const got = idx.match(labels) ?? [];
      if (want.length > 1) multi++;
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        mismatches++;
        t.same(got, want, `round ${round}: ${JSON.stringify(labels)}`);
      }
      const derived = idx.matchDerived(labels);
      if (derived !== (want.length > 0 ? want.map((i) => i.name).join() : undefined)) mismatches++;
    }
  }
  t.equal(mismatches, 0, 'index == scan for every query');
  t.ok(multi > 50, `queries matching several items were exercised (${multi})`);
});

t.test('matchDerived shares one result per whole-bucket match', async (t) => {
  let calls = 0;
  const idx = new SelectorIndex<string, string[]>((l) => {
    calls++;
    return [...l];
  });
  idx.add('x', [['app', 'a']]);
  idx.add('y', [['app', 'b']]);
  const first = idx.matchDerived({ app: 'a', other: '1' });
  t.same(first, ['x']);
  t.equal(idx.matchDerived({ app: 'a' }), first, 'the same object for the same bucket');
  t.equal(idx.matchDerived({ app: 'c' }), undefined, 'no match');
  t.equal(calls, 1);
});

t.test('KeySet is the keys of its map', async (t) => {
  const m = new Map([
    ['a', 1],
    ['b', 2],
  ]);
  const s = new KeySet(m);
  t.equal(s.size, 2);
  t.ok(s.has('a'));
  t.notOk(s.has('c'));
  t.same([...s], ['a', 'b']);
  t.same(
    [...s.entries()],
    [
      ['a', 'a'],
      ['b', 'b'],
    ],
  );
  const seen: string[] = [];
  s.forEach((v) => seen.push(v));
  t.same(seen, ['a', 'b']);
});
