import t from 'tap';
import { NameTable } from './name-table';

const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

t.test('a small table is one Set: insertion order, add/delete report change', async (t) => {
  const n = new NameTable();
  t.equal(n.add('b'), true);
  t.equal(n.add('a'), true);
  t.equal(n.add('b'), false, 'a repeated name is not added twice');
  t.equal(n.size, 2);
  t.same([...n], ['b', 'a'], 'insertion order');
  t.ok(n.has('a') && !n.has('c'));
  t.equal(n.delete('c'), false, 'deleting a name not held is a no-op');
  t.equal(n.delete('b'), true);
  t.same([...n.keys()], ['a']);
  t.same([...n.entries()], [['a', 'a']]);
  const seen: string[] = [];
  n.forEach((v) => seen.push(v));
  t.same(seen, ['a']);
});

t.test('past the split: the same set of names, exact size, membership and deletes; clear starts over', async (t) => {
  const n = new NameTable();
  const all = names('Kubernetes//Pod/default/w-', 30_000);
  for (const x of all) n.add(x);
  for (const x of all.slice(0, 1000)) if (!t.equal(n.add(x), false, 'no duplicate after the split')) t.bailout();
  t.equal(n.size, 30_000);
  t.same([...n].sort(), [...all].sort(), 'iteration yields every name once');
  t.ok(
    all.every((x) => n.has(x)),
    'every name is found',
  );
  t.notOk(n.has('Kubernetes//Pod/default/w-30000'));
  for (const x of all.slice(0, 15_000)) n.delete(x);
  t.equal(n.size, 15_000);
  t.notOk(
    all.slice(0, 15_000).some((x) => n.has(x)),
    'deleted names are gone',
  );
  t.ok(
    all.slice(15_000).every((x) => n.has(x)),
    'the others stay',
  );
  t.equal([...n.values()].length, 15_000);
  n.clear();
  t.equal(n.size, 0);
  t.same([...n], []);
  n.add('x');
  t.same([...n], ['x'], 'one Set again after clear');
});

t.test('two tables given the same operations iterate alike (split or not)', async (t) => {
  const a = new NameTable();
  const b = new NameTable();
  for (const x of names('n/', 20_000)) {
    a.add(x);
    b.add(x);
  }
  t.same([...a], [...b]);
});

t.test('names spread over the shards: no shard holds much more than its share', async (t) => {
  // What bounds a rehash: 200k names of the flood's shape, 256 shards → ~781 each.
  const n = new NameTable();
  for (let i = 0; i < 200_000; i++) n.add(`n/${i.toString(36).padStart(7, '0')}`);
  t.ok(n.largestShard() < 4 * (200_000 / 256), `largest shard ${n.largestShard()} under 4× its share`);
});

t.test('names are held as bytes: string and byte forms agree, non-ASCII included', async (t) => {
  const n = new NameTable();
  const odd = ['ünïcode/名前', 'a', '', 'x'.repeat(3000), 'Kubernetes//Pod/default/w-1'];
  for (const x of odd) t.equal(n.add(x), true, `added ${x.slice(0, 20)}`);
  t.same([...n], odd, 'strings come back as given, in insertion order');
  for (const x of odd) {
    const b = Buffer.from(`..${x}..`);
    t.equal(n.hasBytes(b, 2, b.length - 2), true, 'found by its UTF-8 bytes');
    t.equal(n.addBytes(b, 2, b.length - 2), false, 'and not added twice');
  }
  const b = Buffer.from('ünïcode/名前');
  t.equal(n.deleteBytes(b, 0, b.length), true);
  t.notOk(n.has('ünïcode/名前'));
  t.equal(n.size, odd.length - 1);
});

t.test('deletes and re-adds behave like a Set across rebuilds (order, size, membership)', async (t) => {
  for (const total of [100, 20_000]) {
    const n = new NameTable();
    const ref = new Set<string>();
    let seed = 7;
    const rnd = (k: number): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % k;
    let differ = 0;
    for (let i = 0; i < 6 * total; i++) {
      const x = `ns/name-${rnd(total)}`;
      if (rnd(3) === 0) differ += n.delete(x) === ref.delete(x) ? 0 : 1;
      else differ += n.add(x) === (!ref.has(x) && ref.add(x) !== undefined) ? 0 : 1;
    }
    t.equal(differ, 0, `${total}: every add and delete reports what a Set reports`);
    t.equal(n.size, ref.size, `${total}: same size`);
    if (n.largestShard() === n.size) t.same([...n], [...ref], `${total}: same insertion order (unsplit)`);
    else t.same([...n].sort(), [...ref].sort(), `${total}: same names (split)`);
  }
});
