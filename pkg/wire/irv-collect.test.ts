import t, { type Test } from 'tap';
import { loadWire, TYPE_ADDRESS, decodeDeltaRequest, decodeDeltaRequestSlow, SetDigest } from './index';
import type { DeltaRequest } from './index';

// The decoder reads runs of initial_resource_versions entries in their common encoding in one tight
// loop (InitialVersionsCollector.scanRun) and computes their SetDigest as it goes; everything else
// takes the general path. These cases cross-check both against protobufjs and the two-pass digest.
const wire = loadWire();
const T = wire.DeltaDiscoveryRequest;

const varint = (n: number): number[] => {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
};
const ld = (field: number, body: Buffer): Buffer =>
  Buffer.concat([Buffer.from([(field << 3) | 2, ...varint(body.length)]), body]);
const entry = (k: string, v: string): Buffer => ld(5, Buffer.concat([ld(1, Buffer.from(k)), ld(2, Buffer.from(v))]));

/** The digest as a second pass over the decoded entries computes it (what digest() did before). */
function twoPass(req: DeltaRequest): SetDigest {
  const d = new SetDigest();
  req.initialResourceVersions.forEachRaw((b, _ns, _ne, vs, ve) => d.addBytes(1, b, vs, ve));
  return d;
}

function agree(t: Test, bytes: Buffer, what: string): DeltaRequest {
  const fast = decodeDeltaRequest(T, bytes);
  const slow = decodeDeltaRequestSlow(T, bytes);
  t.same(fast.initialResourceVersions.toMap(), slow.initialResourceVersions.toMap(), `${what}: same map as protobufjs`);
  t.ok(fast.initialResourceVersions.digest().equals(twoPass(fast)), `${what}: one-pass digest = two-pass digest`);
  return fast;
}

t.test('entries of every length class, canonical or not, interleaved with other fields', async (t) => {
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  // 1-, 2- and 3-byte varint lengths for keys, values and whole entries.
  const lengths = [0, 5, 100, 126, 127, 128, 300, 16_383, 16_384, 20_000];
  const str = (): string => 'x'.repeat(lengths[Math.floor(rnd() * lengths.length)]!) + String(Math.floor(rnd() * 1e6));
  for (let i = 0; i < 60; i++) {
    const parts: Buffer[] = [ld(2, Buffer.from(TYPE_ADDRESS))];
    const n = Math.floor(rnd() * 12);
    for (let j = 0; j < n; j++) {
      const r = rnd();
      // the common encoding; value before key; an empty entry; ...
      if (r < 0.6) parts.push(entry(str(), str()));
      else if (r < 0.7) parts.push(ld(5, Buffer.concat([ld(2, Buffer.from(str())), ld(1, Buffer.from(str()))])));
      else if (r < 0.75)
        parts.push(ld(5, Buffer.alloc(0))); // empty entry: key and value ""
      else if (r < 0.8) {
        // an unknown varint field inside the entry
        parts.push(ld(5, Buffer.concat([Buffer.from([0x18, 0x05]), ld(1, Buffer.from('k')), ld(2, Buffer.from('v'))])));
      } else if (r < 0.85) {
        // a non-minimal varint for the entry's length
        parts.push(Buffer.from([0x2a, 0x86, 0x00, 0x0a, 0x01, 0x61, 0x12, 0x01, 0x62]));
      } else if (r < 0.9)
        parts.push(ld(3, Buffer.from(str()))); // a subscribe name between entries
      else parts.push(ld(6, Buffer.from('nonce')));
    }
    const bytes = Buffer.concat(parts);
    const req = agree(t, bytes, `case ${i}`);
    const listed = parts.filter((p) => p[0] === 0x2a).length;
    t.equal(req.initialResourceVersions.size, listed, `case ${i}: every entry listed`);
  }
});

t.test('a 10k-entry reconnect: digest equals the set digest of its versions, in any order', async (t) => {
  const pairs = Array.from({ length: 10_000 }, (_, i) => [`Kubernetes//Pod/ns-${i % 50}/pod-${i}`, `v${i}`] as const);
  const bytes = Buffer.concat([ld(2, Buffer.from(TYPE_ADDRESS)), ...pairs.map(([k, v]) => entry(k, v))]);
  const req = agree(t, bytes, '10k');
  const want = new SetDigest();
  for (const [, v] of [...pairs].reverse()) want.addVersion(v);
  t.ok(req.initialResourceVersions.digest().equals(want), 'same digest as the cache builds from strings');
  t.equal(req.initialResourceVersions.size, 10_000);
  // A second decode reuses the collector's scratch: the first request's offsets stay intact.
  const other = Buffer.concat([ld(2, Buffer.from(TYPE_ADDRESS)), entry('other', 'v')]);
  t.same([...decodeDeltaRequest(T, other).initialResourceVersions.toMap()], [['other', 'v']]);
  t.equal(req.initialResourceVersions.get('Kubernetes//Pod/ns-7/pod-9957'), 'v9957', 'earlier request unchanged');
});

t.test('truncated inside a run of entries: rejected, or (at an entry boundary) the shorter request', async (t) => {
  const parts = [ld(2, Buffer.from(TYPE_ADDRESS)), entry('a', '1'), entry('b'.repeat(200), '2')];
  parts.push(entry('c', 'x'.repeat(130)));
  const bytes = Buffer.concat(parts);
  const boundaries = new Set(parts.map((_, i) => Buffer.concat(parts.slice(0, i + 1)).length));
  for (let cut = 1; cut < bytes.length; cut++) {
    const b = Buffer.from(bytes.subarray(0, cut));
    if (boundaries.has(cut)) agree(t, b, `cut ${cut} at a field boundary`);
    else t.throws(() => decodeDeltaRequest(T, b), { code: 'xds.request_malformed' }, `cut ${cut} rejected`);
  }
});

// protobufjs is lenient with some of these (it reads a map key past its entry); protoc and the decoder are not.
t.test('malformed entries inside a run are rejected', async (t) => {
  const head = Buffer.concat([ld(2, Buffer.from(TYPE_ADDRESS)), entry('a', '1')]);
  const bad: [string, number[]][] = [
    ['entry length past the message', [0x2a, 0x10, 0x0a, 0x01, 0x61, 0x12, 0x01, 0x62]],
    ['key length past the entry', [0x2a, 0x06, 0x0a, 0x09, 0x61, 0x12, 0x01, 0x62]],
    ['value length past the entry', [0x2a, 0x06, 0x0a, 0x01, 0x61, 0x12, 0x05, 0x62]],
    ['entry field with tag 0', [0x2a, 0x02, 0x00, 0x00]],
    ['entry length varint too long', [0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
  ];
  for (const [what, tail] of bad) {
    const b = Buffer.concat([head, Buffer.from(tail), entry('z', '9')]);
    t.throws(() => decodeDeltaRequest(T, b), { code: 'xds.request_malformed' }, what);
  }
});

t.test("the decoder's word-view digest equals the byte-load digest the cache uses, at any offset", async (t) => {
  let seed = 11;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const buf = Buffer.from(Array.from({ length: 4096 }, () => Math.floor(rnd() * 256)));
  for (let i = 0; i < 300; i++) {
    const vs = Math.floor(rnd() * 2000);
    const ve = vs + Math.floor(rnd() * 40);
    const viewed = new SetDigest();
    viewed.addView(new DataView(buf.buffer, buf.byteOffset, buf.byteLength), vs, ve);
    const loaded = new SetDigest();
    loaded.addBytes(1, buf, vs, ve);
    t.ok(viewed.equals(loaded), `version ${i}`);
  }
});
