import t from 'tap';
import { CowMap } from './cow-map';

t.test('the shard table grows with the map, so a write after a freeze clones a small shard', async (t) => {
  const m = new CowMap<number>();
  const start = m.shardCount;
  for (let i = 0; i < 50_000; i++) m.set(`ns-${i % 50}/pod-${i}`, i);
  t.equal(m.size, 50_000);
  t.ok(m.shardCount > start, `table grew from ${start} to ${m.shardCount} shards`);
  t.ok(50_000 / m.shardCount <= 32, `at most 32 entries per shard on average (${(50_000 / m.shardCount).toFixed(1)})`);
  for (let i = 0; i < 50_000; i += 997) t.equal(m.get(`ns-${i % 50}/pod-${i}`), i);
});

t.test('frozen views are unaffected by later writes, including writes that grow the table', async (t) => {
  const m = new CowMap<number>();
  for (let i = 0; i < 4000; i++) m.set(`k${i}`, i);
  const before = m.freeze();
  const shardsBefore = m.shardCount;
  for (let i = 0; i < 20_000; i++) m.set(`k${i}`, -i); // overwrites, then new keys that force growth
  m.delete('k1');
  t.ok(m.shardCount > shardsBefore, 'the writes grew the table');
  t.equal(before.size, 4000);
  t.equal(before.get('k1'), 1);
  t.equal(before.get('k3999'), 3999);
  t.equal(before.get('k5000'), undefined);
  let n = 0;
  before.forEach((v, k) => {
    if (Number(k.slice(1)) !== v) t.fail(`frozen entry ${k} changed to ${v}`);
    n++;
  });
  t.equal(n, 4000, 'forEach sees exactly the frozen entries');
  const after = m.freeze();
  t.equal(after.size, 19_999);
  t.equal(after.get('k1'), undefined);
  t.equal(after.get('k19999'), -19_999);
  t.equal([...after.keys()].length, 19_999, 'iteration covers every shard of the grown table');
});

t.test('thaw() of a grown frozen map shares its table until written, then diverges', async (t) => {
  const m = new CowMap<string>();
  for (let i = 0; i < 10_000; i++) m.set(`k${i}`, 'a');
  const f = m.freeze();
  const w = f.thaw();
  t.equal(w.shardCount, m.shardCount);
  w.set('k5', 'b');
  w.set('new', 'c');
  w.delete('k6');
  t.equal(f.get('k5'), 'a');
  t.equal(f.get('k6'), 'a');
  t.equal(f.has('new'), false);
  const g = w.freeze();
  t.equal(g.get('k5'), 'b');
  t.equal(g.get('new'), 'c');
  t.equal(g.has('k6'), false);
  t.equal(g.size, 10_000);
});

t.test('fromEntries() builds the table set() would, in the same iteration order', async (t) => {
  for (const n of [0, 100, 4096, 4097, 20_000]) {
    const keys = Array.from({ length: n }, (_, i) => `uid/${i * 7919}`);
    const one = new CowMap<number>();
    keys.forEach((k, i) => one.set(k, i));
    const bulk = CowMap.fromEntries(
      keys,
      keys.map((_, i) => i),
    );
    t.equal(bulk.shardCount, one.shardCount, `${n} keys: same table size`);
    t.same([...bulk.freeze().entries()], [...one.freeze().entries()], `${n} keys: same entries, same order`);
    bulk.set('extra', -1);
    t.equal(bulk.freeze().size, n + 1, `${n} keys: writable afterwards`);
  }
});
