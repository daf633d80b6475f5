import t from 'tap';
import { CowMap } from './cow-map';
import { ShardTable, ShardTableWriter } from './shard-table';

/** A registry-sized frozen map: keys like the pods' "ns/name". */
function source(n: number): CowMap<number> {
  const m = new CowMap<number>();
  for (let i = 0; i < n; i++) m.set(`ns-${i % 50}/pod-${i}`, i);
  return m;
}

t.test('mapFrom keeps every key of the source in its shard, with fn of its value, and skips undefined', async (t) => {
  const src = source(50_000).freeze();
  const table = ShardTable.mapFrom(src, (v) => (v % 10 === 3 ? undefined : `v${v}`));
  t.equal(table.size, 45_000);
  for (let i = 0; i < 50_000; i += 7) {
    const k = `ns-${i % 50}/pod-${i}`;
    t.equal(table.get(k), i % 10 === 3 ? undefined : `v${i}`, k);
    t.equal(table.has(k), i % 10 !== 3);
  }
  t.equal(table.get('ns-1/absent'), undefined);
  t.equal(table.has('ns-1/absent'), false);
  // Same layout as the source: its iteration order, minus the skipped entries.
  const want: string[] = [];
  src.forEach((v, k) => v % 10 !== 3 && want.push(k));
  t.strictSame([...table.keys()], want, 'keys in the source order');
  const seen: string[] = [];
  table.forEach((v, k) => {
    if (v !== `v${k.slice(k.indexOf('-', 3) + 1)}`) t.fail(`${k} -> ${v}`);
    seen.push(k);
  });
  t.strictSame(seen, want, 'forEach in the same order');
  t.strictSame(
    [...table.entries()].slice(0, 3),
    want.slice(0, 3).map((k) => [k, table.get(k)]),
  );
  t.equal([...table.values()].length, 45_000);
});

t.test('a writer copies on write: frozen tables never change, including across growth', async (t) => {
  const base = ShardTable.mapFrom(source(4_000).freeze(), (v) => v);
  const w = base.thaw();
  w.set('ns-1/pod-1', -1);
  w.set('ns-1/new', 7);
  t.equal(w.delete('ns-2/pod-2'), true);
  t.equal(w.delete('ns-2/pod-2'), false, 'a second delete finds nothing');
  const first = w.freeze();
  t.equal(w.freeze(), first, 'freeze without a write in between is the same table');
  t.equal(base.get('ns-1/pod-1'), 1, 'the source table is unchanged');
  t.equal(base.has('ns-1/new'), false);
  t.equal(base.get('ns-2/pod-2'), 2);
  t.equal(base.size, 4_000);
  t.equal(first.get('ns-1/pod-1'), -1);
  t.equal(first.get('ns-1/new'), 7);
  t.equal(first.has('ns-2/pod-2'), false);
  t.equal(first.size, 4_000);
  // Writes after a freeze copy again; enough new keys double the table (4,000 keys start in 128 shards).
  for (let i = 0; i < 20_000; i++) w.set(`grow/${i}`, i);
  w.set('ns-1/pod-1', -2);
  const second = w.freeze();
  t.equal(first.get('ns-1/pod-1'), -1, 'the first frozen table is unchanged by later writes');
  t.equal(first.has('grow/5'), false);
  t.equal(first.size, 4_000);
  t.equal(second.size, 24_000);
  t.equal(second.get('ns-1/pod-1'), -2);
  for (let i = 0; i < 20_000; i += 101) t.equal(second.get(`grow/${i}`), i);
  let n = 0;
  second.forEach(() => n++);
  t.equal(n, 24_000, 'iteration covers every shard of the grown table');
});

t.test('an empty writer grows as keys arrive, so a lookup scans at most ~32 keys on average', async (t) => {
  const w = ShardTableWriter.empty<number>(1);
  for (let i = 0; i < 10_000; i++) w.set(`k${i}`, i);
  t.equal(w.size, 10_000);
  t.ok(10_000 / w.shardCount <= 32, `${w.shardCount} shards`);
  const f = w.freeze();
  for (let i = 0; i < 10_000; i += 37) t.equal(f.get(`k${i}`), i);
  t.equal(w.get('k9999'), 9_999);
  t.equal(w.get('nope'), undefined);
});

t.test("mapFrom's touch runs over each shard's values before fn does", async (t) => {
  const src = source(2_000).freeze();
  const calls: string[] = [];
  const table = ShardTable.mapFrom(
    src,
    (v) => {
      calls.push(`fn ${v}`);
      return v;
    },
    (v) => {
      calls.push(`touch ${v}`);
      return v;
    },
  );
  t.equal(table.size, 2_000);
  t.equal(calls.length, 4_000, 'each value touched once and mapped once');
  // Per shard: every value touched, then every value mapped, in the shard's order.
  const perShard = new Map<number, string[]>();
  for (const [k, v] of src) {
    const i = src.table.findIndex((m) => m?.has(k));
    const l = perShard.get(i) ?? [];
    l.push(String(v));
    perShard.set(i, l);
  }
  const want = [...perShard.values()].flatMap((vs) => [...vs.map((v) => `touch ${v}`), ...vs.map((v) => `fn ${v}`)]);
  t.strictSame(calls, want);
  t.throws(
    () =>
      ShardTable.mapFrom(
        src,
        (v) => v,
        () => NaN,
      ),
    /touch returned NaN/,
  );
});
