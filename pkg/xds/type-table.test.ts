import t from 'tap';
import { SetDigest, TYPE_ADDRESS } from '../wire';
import { entryFromBytes } from './cache-entry';
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
