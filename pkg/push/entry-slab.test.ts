import * as crypto from 'node:crypto';
import t from 'tap';
import { loadWire, TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../wire';
import { entryFromBytes, ResourceCache, type CacheEntry } from '../xds';
import { addressAliases } from './address-aliases';
import { Encoder } from './encoder';
import { fullDelta } from './resource-delta';

// Entries written in place with the encoder's name marks must be the entries the search-based path made before:
// pkg/xds entryFromBytes + rehomed() (packFrame searches the frame for the name's copies).
const wire = loadWire();
const types = new Map([
  [TYPE_ADDRESS, wire.Address],
  [TYPE_AUTHORIZATION, wire.Authorization],
]);

/** Deterministic numbers in [0, 1) from a SHA-256 chain, so a failure reproduces from its seed. */
function rng(seed: number): () => number {
  let block = crypto.createHash('sha256').update(`entry-slab ${seed}`).digest();
  let at = 0;
  return () => {
    if (at + 4 > block.length) {
      block = crypto.createHash('sha256').update(block).digest();
      at = 0;
    }
    at += 4;
    return block.readUInt32LE(at - 4) / 2 ** 32;
  };
}

const ALPHABET = ['a', 'b', 'z', '0', '9', '-', '/', '.', 'ü', 'é', '日', '本', '😀'];

function randomName(r: () => number, min: number, max: number): string {
  const n = min + Math.floor(r() * (max - min));
  let s = '';
  for (let i = 0; i < n; i++) s += r() < 0.9 ? ALPHABET[Math.floor(r() * 8)]! : ALPHABET[8 + Math.floor(r() * 5)]!;
  return s;
}

interface Workload {
  uid: string;
  name: string;
  namespace: string;
  serviceAccount?: string;
  workloadName?: string;
  hostname?: string;
  addresses: Uint8Array[];
  authorizationPolicies?: string[];
}

/** A random mesh: short and long uids, split-horizon workloads (name = uid), the uid repeated in unmarked fields. */
function randomAddresses(seed: number, count: number): Map<string, object> {
  const r = rng(seed);
  const out = new Map<string, object>();
  for (let i = 0; i < count; i++) {
    const uid = `${randomName(r, 4, 140)}#${i}`;
    const w: Workload = {
      uid,
      name: r() < 0.4 ? uid : randomName(r, 1, 40),
      namespace: randomName(r, 1, 20),
      addresses: [Uint8Array.from([10, i >> 16, (i >> 8) & 255, i & 255])],
    };
    const shape = r();
    if (shape < 0.15)
      w.serviceAccount = uid; // a third copy, before Workload.uid
    else if (shape < 0.3)
      w.workloadName = `x${uid}y`; // the name inside another string
    else if (shape < 0.4) w.hostname = uid; // after Workload.uid
    if (r() < 0.05) w.authorizationPolicies = Array.from({ length: 400 }, (_, k) => `ns/policy-${k}`); // > a slab
    out.set(uid, { workload: w });
  }
  return out;
}

function searched(typeUrl: string, msgs: Map<string, object>): CacheEntry[] {
  const type = types.get(typeUrl)!;
  const out: CacheEntry[] = [];
  const aliases = typeUrl === TYPE_ADDRESS ? addressAliases : (): string[] => [];
  for (const [name, m] of msgs) out.push(entryFromBytes(typeUrl, name, type.encode(m).finish(), aliases(m)).rehomed());
  return out;
}

t.test('entries written in place equal the search-based ones over a random mesh', async (t) => {
  for (const seed of [1, 2, 3]) {
    const msgs = randomAddresses(seed, 600);
    const enc = new Encoder(wire, types);
    const got = enc.encode(fullDelta(TYPE_ADDRESS, msgs)).upserts ?? [];
    const want = searched(TYPE_ADDRESS, msgs);
    t.equal(got.length, want.length, `seed ${seed}: one entry per message`);
    let packed = 0;
    for (let i = 0; i < want.length; i++) {
      const [g, w] = [got[i]!, want[i]!];
      const ok =
        g.frame.equals(w.frame) &&
        g.name === w.name &&
        g.version === w.version &&
        g.length === w.length &&
        g.nameHash === w.nameHash &&
        JSON.stringify(g.aliases) === JSON.stringify(w.aliases);
      if (!ok) {
        t.fail(`seed ${seed}: entry ${i} (${w.name}) differs`);
        return;
      }
      if (g.storedLength < g.length) packed++;
    }
    t.ok(packed > 100, `seed ${seed}: ${packed} entries packed`);
  }
});

t.test('packing saves what the search-based entry saves when the name is only in marked fields', async (t) => {
  const long = 'Kubernetes//Pod/default/ünïcødé-日本-😀-workload-with-a-long-name-0001';
  const cases: [string, object][] = [
    ['name = uid (two marked copies)', { workload: { uid: long, name: long, namespace: 'default' } }],
    ['uid only', { workload: { uid: long, name: 'pod', namespace: 'default' } }],
    ['short name: never packed', { workload: { uid: 'short-uid', name: 'short-uid' } }],
    ['ASCII', { workload: { uid: `${'a'.repeat(100)}/x`, name: `${'a'.repeat(100)}/x`, namespace: 'ns' } }],
  ];
  for (const [what, m] of cases) {
    const name = (m as { workload: Workload }).workload.uid;
    const msgs = new Map([[name, m]]);
    const [g] = new Encoder(wire, types).encode(fullDelta(TYPE_ADDRESS, msgs)).upserts ?? [];
    const [w] = searched(TYPE_ADDRESS, msgs);
    t.ok(g!.frame.equals(w!.frame), `${what}: same frame`);
    t.equal(g!.storedLength, w!.storedLength, `${what}: same stored bytes`);
    t.equal(g!.name, name, `${what}: name`);
    t.equal(g!.nameHash, w!.nameHash, `${what}: the name's hash (the cache's index key)`);
  }
});

t.test('a name that also appears elsewhere in the frame is put back where it was', async (t) => {
  const uid = 'cluster/apps/v1/Deployment/ns/reviews-v1-abcdef-12345';
  // The uid in Workload.serviceAccount (field 7, unmarked, between name and uid), in hostname (after uid) and
  // inside workloadName: the search finds other copies than the encoder marks; the frames must not differ.
  const m = { workload: { uid, name: uid, serviceAccount: uid, hostname: uid, workloadName: `${uid}${uid}` } };
  const msgs = new Map([[uid, m]]);
  const [g] = new Encoder(wire, types).encode(fullDelta(TYPE_ADDRESS, msgs)).upserts ?? [];
  const [w] = searched(TYPE_ADDRESS, msgs);
  t.ok(g!.frame.equals(w!.frame), 'same frame');
  t.equal(g!.length - g!.storedLength, 2 * Buffer.byteLength(uid), 'two copies left out');
  t.equal(g!.version, w!.version, 'same version');
});

t.test('entries stay intact as later frames fill and replace slabs, and the cache serves them', async (t) => {
  const enc = new Encoder(wire, types);
  const all: [CacheEntry[], CacheEntry[]][] = [];
  for (const seed of [7, 8]) {
    const msgs = randomAddresses(seed, 300);
    all.push([enc.encode(fullDelta(TYPE_ADDRESS, msgs)).upserts as CacheEntry[], searched(TYPE_ADDRESS, msgs)]);
  }
  const authz = new Map([['ns/p', { name: 'p', namespace: 'ns', rules: [] }]]);
  const z = enc.encode(fullDelta(TYPE_AUTHORIZATION, authz));
  for (const [got, want] of all) {
    t.ok(
      got.every((g, i) => g.frame.equals(want[i]!.frame)),
      'every frame of an earlier encode is unchanged',
    );
  }
  t.ok(z.upserts![0]!.frame.equals(searched(TYPE_AUTHORIZATION, authz)[0]!.frame), 'an Authorization too');
  const cache = new ResourceCache();
  cache.commit([{ typeUrl: TYPE_ADDRESS, upserts: all[1]![0], removes: [] }]);
  const one = all[1]![1][5]!;
  t.equal(cache.get(TYPE_ADDRESS, one.name)?.version, one.version, 'the cache finds an entry by its name');
  // ASCII names (the encoder hashes them as it copies them in): found by name, replaced in place by a new version.
  const ascii = new Map<string, object>();
  for (let i = 0; i < 50; i++) ascii.set(`Kubernetes//Pod/ns/w-${i}`, { workload: { uid: `u${i}`, name: `w-${i}` } });
  cache.commit([{ typeUrl: TYPE_ADDRESS, upserts: enc.encode(fullDelta(TYPE_ADDRESS, ascii)).upserts }]);
  const size = cache.size(TYPE_ADDRESS);
  for (const [name] of ascii) ascii.set(name, { workload: { uid: 'changed', name } });
  const next = enc.encode(fullDelta(TYPE_ADDRESS, ascii)).upserts!;
  cache.commit([{ typeUrl: TYPE_ADDRESS, upserts: next }]);
  t.equal(cache.size(TYPE_ADDRESS), size, 'each replaced its predecessor');
  t.ok(
    next.every((e) => cache.get(TYPE_ADDRESS, e.name) === e),
    'each found by its name',
  );
});
