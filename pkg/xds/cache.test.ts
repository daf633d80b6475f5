import t from 'tap';
import { ResourceCache, entryFromBytes } from './cache';
import { InitialVersions } from '../wire';

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
  const m = cache.matchInitial(T, rawIrv([
    ['ns/pod-52528', v('ns/pod-52528')],
    ['ns/pod-203210', 'stale'],
    ['ns/a', v('ns/a')],
    ['ns/ünï', v('ns/ünï')],
    ['ns/gone', 'x'],
  ]));
  t.equal(m.current, 4, 'four held names still exist');
  t.same(m.changed.map((e) => e.name), ['ns/pod-203210'], 'only the stale one is resent');
  t.same(m.missing, ['ns/gone']);
  t.equal(m.duplicate, false);
  const d = cache.matchInitial(T, rawIrv([['ns/a', v('ns/a')], ['ns/a', 'x']]));
  t.equal(d.duplicate, true, 'a repeated key is reported (protobuf keeps the last value: the caller takes the exact path)');
  const again = cache.matchInitial(T, rawIrv([['ns/a', v('ns/a')]]));
  t.equal(again.duplicate, false, 'a later request starts a fresh duplicate check');
  t.end();
});

t.test('matchInitial after removals and re-adds in a collision chain', (t) => {
  const cache = new ResourceCache();
  const a = 'ns/pod-52528';
  const b = 'ns/pod-203210';
  cache.commit([{ typeUrl: T, upserts: [entryFromBytes(T, a, Buffer.from('1')), entryFromBytes(T, b, Buffer.from('2'))] }]);
  cache.commit([{ typeUrl: T, removes: [a] }]);
  let m = cache.matchInitial(T, rawIrv([[a, 'x'], [b, cache.get(T, b)!.version]]));
  t.same(m.missing, [a], 'the removed head of the chain is gone');
  t.equal(m.current, 1, 'its collision partner is still found');
  cache.commit([{ typeUrl: T, upserts: [entryFromBytes(T, a, Buffer.from('3'))] }]);
  cache.commit([{ typeUrl: T, upserts: [entryFromBytes(T, b, Buffer.from('4'))] }]);
  m = cache.matchInitial(T, rawIrv([[a, cache.get(T, a)!.version], [b, cache.get(T, b)!.version]]));
  t.equal(m.current, 2);
  t.same(m.changed, [], 'updated entries are indexed once, at their new version');
  t.end();
});
