import t from 'tap';
import protobuf from 'protobufjs';
import { loadWire } from '../wire';
import type { TypeCommit } from '../xds';
import { Encoder } from './encoder';
import { PushBuilder, type Generation } from './push-builder';
import { MapDeltas, UnconfirmedRemovals, diffMaps, fullDelta, type ResourceDelta } from './resource-delta';

// A type without a generated encoder (protobufjs path): one string field, so each message is its own content.
const T = 'type.googleapis.com/test.Item';
const EXPORT = 'type.googleapis.com/test.Export';
const root = protobuf.Root.fromJSON({
  nested: {
    test: {
      nested: {
        Item: { fields: { v: { type: 'string', id: 1 } } },
        Export: { fields: { v: { type: 'string', id: 1 } } },
      },
    },
  },
});
const types = new Map([
  [T, root.lookupType('test.Item')],
  [EXPORT, root.lookupType('test.Export')],
]);
const encoder = (): Encoder => new Encoder(loadWire(), types);

/** A cache as name -> version after applying commits (removes first, as ResourceCache applies a commit). */
function apply(state: Map<string, string>, commits: readonly TypeCommit[], typeUrl = T): Map<string, string> {
  for (const c of commits) {
    if (c.typeUrl !== typeUrl) continue;
    for (const n of c.removes ?? []) state.delete(n);
    for (const u of c.upserts ?? []) state.set(u.name, u.version);
  }
  return state;
}
const names = (c: TypeCommit | undefined): string[] => (c?.upserts ?? []).map((u) => u.name).sort();

/**
 * A fake incremental generator over a name -> value map it is handed: it reports exactly the names set or
 * deleted since its previous call, and a full output when asked (ResourceDelta's contract).
 */
class FakeLocal {
  readonly out = new Map<string, { v: string }>();
  private emitted = new Set<string>();
  private readonly unconfirmed = new UnconfirmedRemovals();
  calls: boolean[] = [];

  generate(input: { set: Record<string, string>; del: string[] }, full: boolean): Generation {
    this.calls.push(full);
    this.unconfirmed.begin(full);
    const changed = new Map<string, object>();
    const removed = new Set<string>();
    for (const [k, v] of Object.entries(input.set)) {
      const m = { v };
      this.out.set(k, m);
      changed.set(k, m);
    }
    for (const k of input.del) if (this.out.delete(k)) removed.add(k);
    const d: ResourceDelta = full
      ? fullDelta(T, this.out, this.emitted, this.unconfirmed.values())
      : { typeUrl: T, changed, removed };
    this.unconfirmed.record(d.removed);
    this.emitted = new Set(this.out.keys());
    return { deltas: [d] };
  }
}

interface In {
  set: Record<string, string>;
  del: string[];
  mesh: string;
  boom?: boolean;
}

function world(merge?: (i: In, l: Generation, full: boolean) => Generation) {
  const local = new FakeLocal();
  let next: In = { set: {}, del: [], mesh: 'm1' };
  const b = new PushBuilder<In, Generation>({
    encoder: encoder(),
    input: () => next,
    contextKey: (i) => i.mesh,
    local: (i, full) => local.generate(i, full),
    merge:
      merge &&
      ((i, l, full) => {
        if (i.boom) throw new Error('merge failed');
        return merge(i, l, full);
      }),
  });
  const cache = new Map<string, string>();
  const w = {
    b,
    local,
    cache,
    originAt: undefined as number | undefined,
    push: (i: Partial<In>): TypeCommit[] => {
      next = { set: {}, del: [], mesh: 'm1', ...i };
      const r = b.build();
      w.originAt = r.originAt;
      apply(cache, r.commits);
      return r.commits;
    },
  };
  return w;
}

t.test('an incremental delta is encoded as given: only its changes and removes', async (t) => {
  const w = world();
  w.push({ set: { a: '1', b: '1', c: '1' } });
  t.same(w.local.calls, [true], 'the first build is full');
  const c = w.push({ set: { b: '2' }, del: ['c'] });
  t.same(w.local.calls, [true, false], 'then incremental');
  t.same(names(c[0]), ['b'], 'one message encoded, not the three it holds');
  t.same(c[0]!.removes, ['c']);
  t.same([...w.cache.keys()].sort(), ['a', 'b']);
  t.same(names(w.push({})[0]), [], 'nothing changed: nothing encoded');
});

t.test('thunks are made once, when encoded', async (t) => {
  let made = 0;
  const w = world((_i, l) => {
    const changed = new Map<string, () => object>([['x', () => (made++, { v: 'x' })]]);
    return { deltas: [...l.deltas, { typeUrl: EXPORT, changed, removed: new Set<string>() }] };
  });
  const c = w.push({ set: { a: '1' } });
  t.equal(made, 1);
  t.same(names(c[1]), ['x']);
  t.equal(c[1]!.typeUrl, EXPORT, 'the merge step adds its own types after the local ones');
});

t.test('after a build that threw, every generator is asked for a full build and nothing is lost', async (t) => {
  const w = world((_i, l) => l);
  w.push({ set: { a: '1', b: '1', c: '1' } });
  const before = new Map(w.cache);
  // The local step ran (its state moved: b changed, c removed) but the merge threw: nothing reached the cache.
  t.throws(() => w.push({ set: { b: '2' }, del: ['c'], boom: true }), /merge failed/);
  t.same(w.cache, before, 'the cache still holds the last committed state');
  w.push({ set: { d: '1' } });
  t.same(w.local.calls, [true, false, true], 'the build after the throw is full');
  const fresh = new Map<string, string>();
  apply(fresh, [encoder().encode(fullDelta(T, w.local.out))]);
  t.same([...w.cache].sort(), [...fresh].sort(), 'the cache equals a fresh encode: b updated, c removed, d added');
  w.push({ set: { a: '2' } });
  t.same(w.local.calls.at(-1), false, 'and the next one is incremental again');
});

t.test('a changed context key asks for a full build once', async (t) => {
  const w = world();
  w.push({ set: { a: '1', b: '1' } });
  w.push({ set: { a: '2' } });
  const c = w.push({ mesh: 'm2' });
  t.same(w.local.calls, [true, false, true]);
  t.same(names(c[0]), ['a', 'b'], 'everything re-encoded (the cache drops same-version upserts)');
  w.push({ mesh: 'm2' });
  t.same(w.local.calls, [true, false, true, false]);
  t.equal(w.b.fullBuilds, 2);
});

t.test('exports: a full-map generator is diffed by identity, removals follow', async (t) => {
  const exp = new MapDeltas(EXPORT);
  let exported = new Map<string, object>([
    ['s1', { v: 's1' }],
    ['s2', { v: 's2' }],
  ]);
  const w = world((_i, l, full) => ({ deltas: [...l.deltas, exp.next(exported, full)], originAt: 7 }));
  const exportCache = new Map<string, string>();
  const step = (i: Partial<In>): TypeCommit => {
    const commits = w.push(i);
    t.equal(w.originAt, 7, "the merge step's origin stamp is passed on");
    apply(exportCache, commits, EXPORT);
    return commits[1]!;
  };
  t.same(names(step({})), ['s1', 's2']);
  exported = new Map([
    ['s1', exported.get('s1')!],
    ['s3', { v: 's3' }],
  ]);
  const c = step({});
  t.same(names(c), ['s3'], 'an unchanged object is not re-encoded');
  t.same([...exportCache.keys()].sort(), ['s1', 's3'], 's2 removed');
});

t.test('diffMaps and fullDelta', async (t) => {
  const a = { v: 'a' };
  const d = diffMaps(
    T,
    new Map([
      ['a', a],
      ['b', { v: 'b' }],
    ]),
    new Map([
      ['a', a],
      ['c', { v: 'c' }],
    ]),
  );
  t.same([...d.changed.keys()], ['c']);
  t.same([...d.removed], ['b']);
  const f = fullDelta(T, new Map([['a', a]]), ['a', 'b'], ['z']);
  t.same([...f.changed.keys()], ['a']);
  t.same([...f.removed].sort(), ['b', 'z']);
});
