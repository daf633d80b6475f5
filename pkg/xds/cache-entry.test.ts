import t from 'tap';
import { TYPE_ADDRESS } from '../wire';
import { entryFromBytes, type CacheEntry } from './cache-entry';

// sameName and sameVersion read the two entries' stores four bytes at a time and the rest byte by byte: every
// length up to a few words, a difference at every position, entries at different offsets of different stores,
// packed ones (the name's copies left out of the stored bytes) too.
t.test('sameName and sameVersion say what comparing name and version strings says', (t) => {
  const names: string[] = [];
  for (let len = 1; len <= 13; len++) {
    const base = 'abcdefghijklm'.slice(0, len);
    names.push(base);
    for (let at = 0; at < len; at++) names.push(`${base.slice(0, at)}Z${base.slice(at + 1)}`);
  }
  names.push('Kubernetes//Pod/default/ünïcødé-workload-with-a-long-name-0001');
  names.push('Kubernetes//Pod/default/ünïcødé-workload-with-a-long-name-0002');
  const entries: CacheEntry[] = [];
  let i = 0;
  for (const name of names) {
    // Two bodies per name (two versions); a body holding the name is packed by rehomed() when the name is long.
    for (const body of [`${name}:one`, `${i++ % 3}`]) {
      const e = entryFromBytes(TYPE_ADDRESS, name, Buffer.from(body));
      entries.push(e, e.rehomed());
    }
  }
  t.ok(
    entries.some((e) => e.storedLength < e.length),
    'some entries are packed',
  );
  let wrong = 0;
  for (const a of entries) {
    for (const b of entries) {
      if (a.sameName(b) !== (a.name === b.name)) wrong++;
      if (a.sameVersion(b) !== (a.version === b.version)) wrong++;
    }
  }
  t.equal(wrong, 0, `${entries.length ** 2} pairs`);
  t.end();
});
