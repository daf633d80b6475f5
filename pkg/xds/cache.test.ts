import t from 'tap';
import { ResourceCache, entryFromBytes } from './cache';
import { createHash } from 'node:crypto';
import { contentVersion, InitialVersions } from '../wire';

const T = 'type.googleapis.com/istio.workload.Address';

/** initial_resource_versions as the wire decoder hands them over: raw bytes + offsets, not strings. */
function rawIrv(pairs: [string, string][]): InitialVersions {
  const parts: Buffer[] = [];
  const offs: number[] = [];
  let at = 0;
  for (const [k, v] of pairs) {
    const kb = Buffer.from(k, 'utf8');
    const vb = Buffer.from(v, 'utf8');
    offs.push(at, at + kb.length, at + kb.length, at + kb.length + vb.length);
    parts.push(kb, vb);
    at += kb.length + vb.length;
  }
  return new InitialVersions(Buffer.concat(parts), Uint32Array.from(offs), pairs.length);
}

t.test('matchInitial: same, changed, missing and duplicate names, including names whose index hashes collide', (t) => {
  const cache = new ResourceCache();
  // ns/pod-52528 and ns/pod-203210 share the index's 30-bit hash: both must resolve to themselves.
  const names = ['ns/pod-52528', 'ns/pod-203210', 'ns/a', 'ns/b', 'ns/ünï'];
  cache.commit([{ typeUrl: T, upserts: names.map((n, i) => entryFromBytes(T, n, Buffer.from(`body-${i}`))) }]);
  const v = (n: string): string => cache.get(T, n)!.version;
  const m = cache.matchInitial(
    T,
    rawIrv([
      ['ns/pod-52528', v('ns/pod-52528')],
      ['ns/pod-203210', 'stale'],
      ['ns/a', v('ns/a')],
      ['ns/ünï', v('ns/ünï')],
      ['ns/gone', 'x'],
    ]),
  );
  t.equal(m.current, 4, 'four held names still exist');
  t.same(
    m.changed.map((e) => e.name),
    ['ns/pod-203210'],
    'only the stale one is resent',
  );
  t.same(m.missing, ['ns/gone']);
  t.equal(m.duplicate, false);
  const d = cache.matchInitial(
    T,
    rawIrv([
      ['ns/a', v('ns/a')],
      ['ns/a', 'x'],
    ]),
  );
  t.equal(
    d.duplicate,
    true,
    'a repeated key is reported (protobuf keeps the last value: the caller takes the exact path)',
  );
  const again = cache.matchInitial(T, rawIrv([['ns/a', v('ns/a')]]));
  t.equal(again.duplicate, false, 'a later request starts a fresh duplicate check');
  t.end();
});

t.test('matchInitial after removals and re-adds in a collision chain', (t) => {
  const cache = new ResourceCache();
  const a = 'ns/pod-52528';
  const b = 'ns/pod-203210';
  cache.commit([
    { typeUrl: T, upserts: [entryFromBytes(T, a, Buffer.from('1')), entryFromBytes(T, b, Buffer.from('2'))] },
  ]);
  cache.commit([{ typeUrl: T, removes: [a] }]);
  let m = cache.matchInitial(
    T,
    rawIrv([
      [a, 'x'],
      [b, cache.get(T, b)!.version],
    ]),
  );
  t.same(m.missing, [a], 'the removed head of the chain is gone');
  t.equal(m.current, 1, 'its collision partner is still found');
  cache.commit([{ typeUrl: T, upserts: [entryFromBytes(T, a, Buffer.from('3'))] }]);
  cache.commit([{ typeUrl: T, upserts: [entryFromBytes(T, b, Buffer.from('4'))] }]);
  m = cache.matchInitial(
    T,
    rawIrv([
      [a, cache.get(T, a)!.version],
      [b, cache.get(T, b)!.version],
    ]),
  );
  t.equal(m.current, 2);
  t.same(m.changed, [], 'updated entries are indexed once, at their new version');
  t.end();
});

t.test('matchInitial: the all-current set is answered as current; any difference still gets the exact match', (t) => {
  const cache = new ResourceCache();
  const names = Array.from({ length: 200 }, (_, i) => `ns/w-${i}`);
  cache.commit([{ typeUrl: T, upserts: names.map((n, i) => entryFromBytes(T, n, Buffer.from(`b${i}`))) }]);
  const held: [string, string][] = names.map((n) => [n, cache.get(T, n)!.version]);
  const shuffled = rawIrv([...held].reverse());
  // Answered from the digests alone: no per-name walk (the exact match's forEachRaw) for the current set.
  shuffled.forEachRaw = (): void => void t.fail('the all-current set walked name by name');
  const same = cache.matchInitial(T, shuffled);
  t.same(
    { current: same.current, changed: same.changed.length, missing: same.missing.length, duplicate: same.duplicate },
    { current: 200, changed: 0, missing: 0, duplicate: false },
    'any order',
  );
  // Two resources swapped bodies since the client's sync: it lists each name with the version of the body the
  // other has now. Had versions covered the bodies alone, the multiset of versions would be the current one.
  const swapped = new ResourceCache();
  const body = (i: number): Buffer => Buffer.from(i === 0 ? 'b1' : i === 1 ? 'b0' : `b${i}`);
  swapped.commit([{ typeUrl: T, upserts: names.map((n, i) => entryFromBytes(T, n, body(i))) }]);
  t.same(
    swapped
      .matchInitial(T, rawIrv(held))
      .changed.map((e) => e.name)
      .sort(),
    ['ns/w-0', 'ns/w-1'],
    'bodies swapped between two names',
  );
  // Same count, one name the server no longer has (listed at its own version) in place of one it lacks.
  const gone = entryFromBytes(T, 'ns/else', Buffer.from('b5'));
  const other = held.map(([n, v], i): [string, string] => (i === 5 ? ['ns/else', gone.version] : [n, v]));
  const m = cache.matchInitial(T, rawIrv(other));
  t.same(m.missing, ['ns/else']);
  t.equal(m.current, 199);
  // Versions from before they covered the name (the body's hash alone) all differ: one full resend.
  const legacy = names.map((n, i): [string, string] => [
    n,
    createHash('sha256').update(`b${i}`).digest('hex').slice(0, 16),
  ]);
  t.equal(cache.matchInitial(T, rawIrv(legacy)).changed.length, 200, 'old-format versions: every entry resent');
  // What no digest of versions can see: a version listed under a name it was not sent for (every version covers
  // its name, so only a client misreporting what it holds does that; it then misleads no one but itself).
  // One pair listed twice in place of another: sums do not cancel.
  const dup = held.map(([n, v], i): [string, string] => (i === 7 ? held[8]! : [n, v]));
  t.equal(cache.matchInitial(T, rawIrv(dup)).duplicate, true);
  // After a change, the old full set is no longer "current".
  cache.commit([{ typeUrl: T, upserts: [entryFromBytes(T, 'ns/w-3', Buffer.from('new'))] }]);
  t.same(
    cache.matchInitial(T, rawIrv(held)).changed.map((e) => e.name),
    ['ns/w-3'],
  );
  t.end();
});

t.test('change log: updates, deletions, resurrection, compaction and stuck cursors', (t) => {
  const cache = new ResourceCache({ maxTombstones: 3 });
  const e = (n: string, v: string): ReturnType<typeof entryFromBytes> => entryFromBytes(T, n, Buffer.from(v));
  const changed = (since: number): [string, string | undefined][] => {
    const out: [string, string | undefined][] = [];
    t.ok(
      cache.forEachChangedSince(
        T,
        since,
        (c) => void out.push(typeof c === 'string' ? [c, undefined] : [c.name, c.version]),
      ),
      `since ${since} is still in the log`,
    );
    return out.sort((a, b) => a[0].localeCompare(b[0]));
  };
  const s1 = cache.commit([{ typeUrl: T, upserts: [e('a', '1'), e('b', '1'), e('c', '1')] }]);
  const cursor = cache.openCursor(s1);
  const s2 = cache.commit([{ typeUrl: T, upserts: [e('a', '2')], removes: ['b'] }]);
  t.equal(cache.commit([{ typeUrl: T, upserts: [e('a', '2')] }]), s2, 'same version again: no commit');
  t.same(
    changed(s1),
    [
      ['a', cache.get(T, 'a')!.version],
      ['b', undefined],
    ],
    'an update and a deletion (tombstone)',
  );
  t.equal(cache.get(T, 'b'), undefined);
  t.equal(cache.stats().types[T]!.tombstones, 1);
  const s3 = cache.commit([{ typeUrl: T, upserts: [e('b', '3')] }]);
  t.same(changed(s2), [['b', cache.get(T, 'b')!.version]], 'resurrected: reported as an entry, not a deletion');
  t.equal(cache.stats().types[T]!.tombstones, 0, 'resurrection clears the tombstone');
  t.same(
    changed(0).map(([n]) => n),
    ['a', 'b', 'c'],
    'each name once, however often it changed',
  );
  t.same([...cache.entries(T)].map((x) => x.name).sort(), ['a', 'b', 'c']);
  t.equal(cache.size(T), 3);
  // Many deletions while the cursor stays at s1: more tombstones than allowed expire it.
  const names = Array.from({ length: 1200 }, (_, i) => `x${i}`);
  cache.commit([{ typeUrl: T, upserts: names.map((n) => e(n, '1')) }]);
  for (const n of names) cache.commit([{ typeUrl: T, removes: [n] }]);
  t.equal(cursor.expired, true, 'a cursor pinning more than maxTombstones is expired');
  t.notOk(
    cache.forEachChangedSince(T, s1, () => undefined),
    'and its old position is below the compaction floor',
  );
  const st = cache.stats().types[T]!;
  t.ok(st.tombstones <= 3, `tombstones pruned to the cap once no live cursor needs them (${st.tombstones})`);
  t.ok(
    st.log <= 2 * (st.entries + st.tombstones) + 1024,
    `log compacted (${st.log} records for ${st.entries} entries)`,
  );
  t.notOk(
    cache.forEachChangedSince(T, s3, () => undefined),
    'with no live cursor the floor moved up to the newest commit',
  );
  t.same(changed(cache.seq), [], 'nothing after the newest commit');
  cache.closeCursor(cursor);
  t.end();
});

t.test(
  'entries hold no name or version strings: both are read back from the frame, across varint boundaries and UTF-8',
  (t) => {
    const cache = new ResourceCache();
    const unicode = 'ns/ünïcødé-名前';
    const names = ['a', 'ns/'.padEnd(127, 'x'), 'ns/'.padEnd(128, 'y'), 'ns/'.padEnd(300, 'z'), unicode];
    const bodies = [0, 1, 127, 128, 20_000].map((n) => Buffer.alloc(n, 7));
    const pairs = names.flatMap((n) => bodies.map((b, i) => [`${n}-${i}`, b] as const));
    cache.commit([{ typeUrl: T, upserts: pairs.map(([n, b]) => entryFromBytes(T, n, b)) }]);
    t.equal(cache.size(T), pairs.length);
    for (const [n, b] of pairs) {
      const e = cache.get(T, n);
      t.equal(e?.name, n, `name of ${n.length}-char ${n.slice(0, 8)}… with a ${b.length}-byte body`);
      t.equal(e?.version, contentVersion(n, b));
    }
    const m = cache.matchInitial(T, rawIrv(pairs.map(([n, b]) => [n, contentVersion(n, b)])));
    t.same([m.current, m.changed.length, m.missing.length], [pairs.length, 0, 0], 'matched by bytes');
    const stale = cache.matchInitial(
      T,
      rawIrv([
        [pairs[3]![0], 'stale'],
        ['ns/none', 'x'],
      ]),
    );
    t.same([stale.changed.map((e) => e.name), stale.missing], [[pairs[3]![0]], ['ns/none']]);
    for (const [n] of pairs) cache.commit([{ typeUrl: T, removes: [n] }]);
    t.equal(cache.size(T), 0);
    t.same([...cache.entries(T)], []);
    t.end();
  },
);

t.test('one entry object committed to two caches is linked into each on its own', (t) => {
  const a = new ResourceCache();
  const b = new ResourceCache();
  const e = entryFromBytes(T, 'ns/shared', Buffer.from('v1'));
  a.commit([{ typeUrl: T, upserts: [e, entryFromBytes(T, 'ns/other', Buffer.from('o'))] }]);
  b.commit([{ typeUrl: T, upserts: [e] }]);
  a.commit([{ typeUrl: T, upserts: [entryFromBytes(T, 'ns/shared', Buffer.from('v2'))] }]);
  t.equal(
    b.get(T, 'ns/shared')?.version,
    contentVersion('ns/shared', Buffer.from('v1')),
    'an update in one cache does not touch the other',
  );
  t.equal(a.get(T, 'ns/shared')?.version, contentVersion('ns/shared', Buffer.from('v2')));
  const seen: string[] = [];
  t.ok(b.forEachChangedSince(T, 0, (c) => void seen.push(typeof c === 'string' ? `-${c}` : c.name)));
  t.same(seen, ['ns/shared'], "b's log holds only its own commit");
  t.end();
});

t.test('packed frames: names repeated inside the resource are stored once and written back byte for byte', (t) => {
  const uid = 'net-1/SplitHorizonWorkload/istio-gateways/peer-1/shop/web.shop.mesh.internal';
  const enc = (parts: (string | Buffer)[]): Buffer =>
    Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
  const cases: [string, string, Buffer, number][] = [
    // [label, name, resource bytes, copies of the name left out]
    ['uid and name inside (split-horizon shape)', uid, enc(['\x0a\x4c', uid, '\x12\x4c', uid, '\x1a\x05shop!']), 2],
    ['one copy inside', uid, enc(['prefix', uid, 'suffix']), 1],
    ['three copies inside: two are left out', uid, enc([uid, uid, uid]), 2],
    ['a short name is not worth it', 'ns/a', enc(['ns/a', 'ns/a']), 0],
    ['no copy inside', uid, Buffer.alloc(300, 3), 0],
    ['a frame of 32 KiB or more stays as it is', uid, enc([uid, Buffer.alloc(40_000, 1), uid]), 0],
    ['a UTF-8 name', `ns/ünïcødé-${'x'.repeat(30)}`, enc(['a', `ns/ünïcødé-${'x'.repeat(30)}`, 'b']), 1],
  ];
  const cache = new ResourceCache();
  for (const [label, name, body, holes] of cases) {
    const plain = entryFromBytes(T, name, body);
    const packed = plain.rehomed();
    const nameBytes = Buffer.byteLength(name);
    t.equal(packed.storedLength, plain.length - holes * nameBytes, `${label}: ${holes} copies left out`);
    t.equal(packed.length, plain.length, `${label}: same length on the wire`);
    t.ok(packed.frame.equals(plain.frame), `${label}: the same bytes`);
    const out = Buffer.alloc(plain.length + 7, 0xee);
    t.equal(packed.copy(out, 3), plain.length);
    t.ok(
      out.subarray(3, 3 + plain.length).equals(plain.frame) && out[2] === 0xee && out[3 + plain.length] === 0xee,
      `${label}: copy() writes exactly the frame at the offset`,
    );
    t.same([packed.name, packed.version], [name, contentVersion(name, body)]);
    cache.commit([{ typeUrl: T, upserts: [packed] }]);
    t.equal(cache.get(T, name), packed, `${label}: found by name`);
    const m = cache.matchInitial(T, rawIrv([[name, contentVersion(name, body)]]));
    t.same([m.current, m.changed.length], [1, 0], `${label}: matched by bytes`);
    t.ok(cache.commit([{ typeUrl: T, removes: [name] }]) > 0 && cache.get(T, name) === undefined, `${label}: removed`);
  }
  t.end();
});

t.test('on-demand aliases follow an entry across updates that keep, change and drop its addresses', (t) => {
  const cache = new ResourceCache();
  const put = (body: string, aliases: string[]): void => {
    cache.commit([{ typeUrl: T, upserts: [entryFromBytes(T, 'ns/w', Buffer.from(body), aliases)] }]);
  };
  const other = entryFromBytes(T, 'ns/x', Buffer.from('x'), ['net/10.0.0.1']);
  cache.commit([{ typeUrl: T, upserts: [other] }]);
  put('v1', ['net/10.0.0.1', 'net/10.0.0.2']);
  t.same(cache.resolve(T, 'net/10.0.0.2'), ['ns/w']);
  // Same addresses, new content: the alias now leads to the new entry only (and still to ns/x for the shared one).
  put('v2', ['net/10.0.0.1', 'net/10.0.0.2']);
  t.same(cache.resolve(T, 'net/10.0.0.2'), ['ns/w']);
  t.same(
    [...cache.aliasTargets(T, 'net/10.0.0.2')!].map((e) => e.version),
    [cache.get(T, 'ns/w')!.version],
  );
  t.same(cache.resolve(T, 'net/10.0.0.1').sort(), ['ns/w', 'ns/x']);
  // A new address set: the dropped alias resolves to nothing of ns/w, the new one does.
  put('v3', ['net/10.0.0.3']);
  t.same(cache.resolve(T, 'net/10.0.0.2'), []);
  t.equal(cache.aliasTargets(T, 'net/10.0.0.2'), undefined, 'an emptied alias leaves the index');
  t.same(cache.resolve(T, 'net/10.0.0.3'), ['ns/w']);
  t.same(cache.resolve(T, 'net/10.0.0.1'), ['ns/x']);
  cache.commit([{ typeUrl: T, removes: ['ns/w'] }]);
  t.same(cache.resolve(T, 'net/10.0.0.3'), []);
  t.end();
});
