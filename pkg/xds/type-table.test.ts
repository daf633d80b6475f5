import t from 'tap';
import { frameNameLength, nameHashString, SetDigest, TYPE_ADDRESS } from '../wire';
import { entryFromBytes, type CacheEntry } from './cache-entry';
import { TypeTable } from './type-table';

/** The digest made from scratch over what the table holds: what the lazily folded one must equal. */
function fresh(table: TypeTable): SetDigest {
  const d = new SetDigest();
  for (const e of table.entries()) d.addVersion(e.version);
  return d;
}

t.test('the lazily folded digest equals one made from scratch, read at any point', (t) => {
  const table = new TypeTable();
  const names = Array.from({ length: 40 }, (_, i) => `ns/w${i}`);
  let x = 7;
  const rand = (n: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % n;
  };
  let version = 0;
  const put = (name: string, seq: number): boolean =>
    table.upsert(entryFromBytes(TYPE_ADDRESS, name, Buffer.from(`${name}#${version++ % 5}`)), seq);
  let reads = 0;
  for (let seq = 1; seq <= 5_000; seq++) {
    // One commit: a few changes, some to the same name (linked and replaced before any fold).
    for (let k = rand(4); k >= 0; k--) {
      const n = names[rand(names.length)]!;
      if (rand(4) === 0) table.remove(n, seq);
      else put(n, seq);
    }
    table.pairs.settle();
    if (rand(30) === 0 || seq % 1_000 === 0) {
      reads++;
      if (!table.pairs.value.equals(fresh(table))) {
        t.fail(`seq ${seq}: digest differs from the held pairs`);
        break;
      }
    }
  }
  t.ok(reads > 100, `read ${reads} times between commits`);
  t.ok(table.pairs.value.equals(fresh(table)), 'equal at the end');
  // Emptied: the sum of nothing.
  for (const n of names) table.remove(n, 6_000);
  table.pairs.settle();
  t.ok(table.pairs.value.equals(new SetDigest()), 'an emptied table digests like an empty set');
  t.end();
});

t.test('a digest read only after more than a batch of changes folds them all', (t) => {
  const table = new TypeTable();
  for (let seq = 1; seq <= 3_000; seq++) {
    table.upsert(entryFromBytes(TYPE_ADDRESS, `ns/w${seq % 7}`, Buffer.from(String(seq))), seq);
    table.pairs.settle();
  }
  t.ok(table.pairs.value.equals(fresh(table)));
  t.equal(table.size, 7);
  t.end();
});

/** The alias index as it was (entry-valued, a set per alias naming several entries): what aliasTargets must list. */
class AliasModel {
  readonly index = new Map<string, CacheEntry | Set<CacheEntry>>();
  add(e: CacheEntry): void {
    for (const a of e.aliases) {
      const v = this.index.get(a);
      if (v === undefined) this.index.set(a, e);
      else if (v instanceof Set) v.add(e);
      else if (v !== e) this.index.set(a, new Set([v, e]));
    }
  }
  drop(e: CacheEntry): void {
    for (const a of e.aliases) {
      const v = this.index.get(a);
      if (v === undefined) continue;
      if (!(v instanceof Set)) {
        if (v === e) this.index.delete(a);
        continue;
      }
      v.delete(e);
      if (v.size === 1) for (const only of v) this.index.set(a, only);
      else if (v.size === 0) this.index.delete(a);
    }
  }
  move(prev: CacheEntry, next: CacheEntry): void {
    const same = prev.aliases.length === next.aliases.length && prev.aliases.every((a, i) => a === next.aliases[i]);
    if (!same) {
      this.drop(prev);
      this.add(next);
      return;
    }
    for (const key of prev.aliases) {
      const v = this.index.get(key);
      if (v === prev || v === undefined) this.index.set(key, next);
      else if (!(v instanceof Set)) this.index.set(key, new Set([v, next]));
      else {
        v.delete(prev);
        v.add(next);
      }
    }
  }
  targets(key: string): CacheEntry[] | undefined {
    const v = this.index.get(key);
    return v === undefined ? undefined : v instanceof Set ? [...v] : [v];
  }
}

t.test('aliasTargets lists what the entry-valued alias index listed, in its order, over random updates', (t) => {
  // Two names with the same hash: their entries share a chain (and aliases between them).
  const seen = new Map<number, string>();
  let pair: [string, string] | undefined;
  for (let i = 0; !pair; i++) {
    const n = `ns/c${i}`;
    const h = nameHashString(n);
    const o = seen.get(h);
    if (o !== undefined) pair = [o, n];
    else seen.set(h, n);
  }
  const names = ['ns/a', 'ns/b', 'ns/c', ...pair];
  let x = 0;
  const aliases = ['net/1', 'net/2', 'net/3', 'net/4'];
  const rand = (n: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % n;
  };
  let version = 0;
  let wrong = 0;
  let shared = 0;
  for (const seed of [11, 12, 13, 14]) {
    x = seed;
    // Seeds 13 and 14 ask for no alias until half way: the index is then built from the entries live at that point.
    const askFrom = seed >= 13 ? 2_000 : 1;
    const table = new TypeTable();
    const model = new AliasModel();
    const live = new Map<string, CacheEntry>();
    for (let seq = 1; seq <= 4_000; seq++) {
      const name = names[rand(names.length)]!;
      const cur = live.get(name);
      if (cur && rand(5) === 0) {
        table.remove(name, seq);
        model.drop(cur);
        live.delete(name);
      } else {
        // Often the same aliases again (a workload whose addresses did not change), else a random list.
        const list =
          cur && rand(2) === 0
            ? [...cur.aliases]
            : Array.from({ length: rand(4) }, () => aliases[rand(aliases.length)]!);
        const e = entryFromBytes(TYPE_ADDRESS, name, Buffer.from(`${name}#${version++}`), list);
        if (!table.upsert(e, seq)) t.fail('a new version was not taken');
        if (cur) model.move(cur, e);
        else model.add(e);
        live.set(name, e);
      }
      if (seq < askFrom) continue;
      for (const a of aliases) {
        const got = table.aliasTargets(a);
        const want = model.targets(a);
        if (want && want.length > 1) shared++;
        if ((got === undefined) !== (want === undefined) || (want && !sameList([...got!], want))) wrong++;
      }
    }
  }
  t.equal(wrong, 0, 'every alias, after every change');
  t.ok(shared > 500, `${shared} reads of an alias naming several entries`);
  t.end();
});

function sameList(a: CacheEntry[], b: CacheEntry[]): boolean {
  return a.length === b.length && a.every((e, i) => e === b[i]);
}

t.test('no entry reads its aliases until the table is first asked for one, then each live entry once', (t) => {
  let reads = 0;
  const reader = (frame: Buffer): readonly string[] => {
    reads++;
    return [`net/${frame.toString('utf8', frame.length - frameNameLength(frame))}`];
  };
  const table = new TypeTable();
  let seq = 0;
  const put = (name: string, body: string): void => {
    if (!table.upsert(entryFromBytes(TYPE_ADDRESS, name, Buffer.from(body), reader), ++seq)) t.fail('not taken');
  };
  for (let i = 0; i < 50; i++) put(`ns/w${i % 10}`, `body-${i}`); // 10 names, each replaced 4 times
  table.remove('ns/w9', ++seq);
  t.equal(reads, 0, 'upserts, replacements and a removal read no aliases');
  t.same(
    [...(table.aliasTargets('net/ns/w3') ?? [])].map((e) => e.name),
    ['ns/w3'],
    'the first ask builds the index (this reader keys an entry by its name, the last field of its frame)',
  );
  t.equal(reads, 9, 'each of the 9 live entries read once');
  t.equal(table.aliasTargets('net/ns/w9'), undefined, 'the removed entry is not indexed');
  put('ns/w3', 'body-again');
  put('ns/new', 'body-new');
  t.equal(reads, 11, 'from then on each linked entry is read as it is linked');
  t.same(
    [...(table.aliasTargets('net/ns/new') ?? [])].map((e) => e.name),
    ['ns/new'],
  );
  t.end();
});
