import t from 'tap';
import {
  CODECS,
  contentVersion,
  encodeMessage,
  encodeResourceFrame,
  loadWire,
  nameHash,
  nameHashString,
  ResourceFrameEncoder,
  TYPE_ADDRESS,
} from './index';
import { putBytesBack, putStringBack, putVarintBack } from './pb-writer';

// The backward writers' own edge cases (pb-writer.ts): the ASCII loop's hand-over to UTF-8, length prefixes at
// the varint size boundaries, empty values, and a buffer too small (negative start, then a retry).
const wire = loadWire();

/** protobufjs's bytes for a length-delimited field body: varint length, then the bytes. */
const delimited = (body: Buffer): Buffer => {
  const w = wire.root.lookupType('google.protobuf.BytesValue').encode({ value: body }).finish();
  return Buffer.from(w.subarray(1)); // drop BytesValue.value's tag
};

const SAMPLES = [
  '',
  'a',
  'ascii-only/name',
  'ü',
  'x'.repeat(127) + 'é',
  'é' + 'x'.repeat(200),
  '😀',
  'a😀b',
  '\ud800',
  'x\udc00y', // lone surrogates: U+FFFD (3 bytes), as Buffer and protobufjs write them
  'x'.repeat(127),
  'x'.repeat(128),
  'x'.repeat(16_383),
  'x'.repeat(16_384),
  '\u007f\u0080\u07ff\u0800\uffff',
];

t.test('putStringBack writes UTF-8 with its length in front, ending where it was asked to', async (t) => {
  for (const s of SAMPLES) {
    const b = Buffer.alloc(70_000, 0xee);
    const end = b.length - 3;
    const start = putStringBack(b, end, s);
    t.same(b.subarray(start, end), delimited(Buffer.from(s, 'utf8')), JSON.stringify(s.slice(0, 12)));
    t.equal(b[start - 1], 0xee, 'nothing written before the start');
    t.same(b.subarray(end), Buffer.from([0xee, 0xee, 0xee]), 'nothing written after the end');
  }
});

t.test('putBytesBack and putVarintBack at the copy and varint size boundaries', async (t) => {
  for (const n of [0, 1, 16, 17, 127, 128, 300]) {
    const v = Buffer.from(Array.from({ length: n }, (_, i) => (i * 7) & 0xff));
    const b = Buffer.alloc(400);
    t.same(b.subarray(putBytesBack(b, b.length, v)), delimited(v), `${n} bytes`);
  }
  for (const n of [0, 127, 128, 16_383, 16_384, 2 ** 21, 2 ** 28, 2 ** 32 - 1, -1, -(2 ** 31)]) {
    const b = Buffer.alloc(16);
    const start = putVarintBack(b, 16, n);
    const want = wire.root
      .lookupType('google.protobuf.Int32Value')
      .encode({ value: n | 0 })
      .finish();
    if (n >= 0 && n < 2 ** 31) t.same(b.subarray(start), Buffer.from(want.subarray(1)), `varint ${n}`);
    else if (n < 0) t.equal(16 - start, 10, `negative ${n} takes 10 bytes`);
    else t.equal(16 - start, 5, `${n} takes 5 bytes`);
  }
});

t.test('too small a buffer gives a negative start and leaves no partial native write behind', async (t) => {
  for (const s of ['x'.repeat(40), 'é'.repeat(40)]) {
    const b = Buffer.alloc(20);
    const start = putStringBack(b, 20, s);
    t.ok(start < 0, `start ${start} for ${Buffer.byteLength(s)} bytes in 20`);
  }
  const b = Buffer.alloc(20);
  t.ok(putBytesBack(b, 20, Buffer.alloc(64, 1)) < 0);
  t.same(b, Buffer.alloc(20), 'a copy that does not fit is not made');
});

t.test('sub-messages across the 1- to 2-byte length boundary and empty fields equal protobufjs', async (t) => {
  for (let len = 100; len <= 140; len++) {
    const msg = {
      workload: {
        uid: 'u'.repeat(len),
        namespace: 'é'.repeat(1 + (len % 7)),
        addresses: [new Uint8Array(0)],
        services: { ['k'.repeat(len)]: { ports: [{}, { servicePort: len }] }, '': {} },
        authorizationPolicies: ['', 'p'],
        locality: {},
        capacity: {},
      },
    };
    const ours = encodeMessage(CODECS['istio.workload.Address'], msg);
    t.same(ours, Buffer.from(wire.Address.encode(msg).finish()), `uid of ${len}`);
  }
});

t.test('a frame whose name or message outgrows the scratch buffer is encoded again in a larger one', async (t) => {
  const enc = new ResourceFrameEncoder(TYPE_ADDRESS, CODECS['istio.workload.Address']);
  const cases: [string, object][] = [
    ['é'.repeat(40_000), { workload: { uid: 'u' } }],
    ['n', { workload: { uid: 'ü'.repeat(50_000), hostname: 'h'.repeat(30_000) } }],
    ['n2', { service: { name: 's', subjectAltNames: Array.from({ length: 9000 }, (_, i) => `spiffe://td/${i}`) } }],
  ];
  for (const [name, m] of cases) {
    const value = wire.Address.encode(m).finish();
    const f = enc.encode(name, m);
    t.same(f.bytes, encodeResourceFrame(name, contentVersion(name, value), TYPE_ADDRESS, value), `${f.bytes.length} B`);
    t.equal(f.nameLen, Buffer.byteLength(name));
    t.same(encodeMessage(CODECS['istio.workload.Address'], m), Buffer.from(value), 'the message alone');
  }
  // The same encoder, now with a large buffer, still writes small frames exactly.
  const small = { workload: { uid: 'a', name: 'b' } };
  const v = wire.Address.encode(small).finish();
  t.same(enc.encode('a', small).bytes, encodeResourceFrame('a', contentVersion('a', v), TYPE_ADDRESS, v));
});

t.test("the frame encoder's nameHash is nameHash of the name's bytes, as nameHashString hashes the name", async (t) => {
  const enc = new ResourceFrameEncoder(TYPE_ADDRESS, CODECS['istio.workload.Address']);
  const m = { workload: { uid: 'u' } };
  for (const name of SAMPLES) {
    const f = enc.encode(name, m);
    const b = f.bytes;
    const want = nameHash(b, b.length - f.nameLen, b.length);
    const label = JSON.stringify(name.slice(0, 12));
    t.equal(f.nameHash, want, label);
    t.equal(enc.nameHash, want, `${label}: the encoder's field`);
    t.equal(nameHashString(name), want, `${label}: from the string`);
    t.ok(want >= 0 && want <= 0x3fffffff, `${label}: a small integer`);
  }
  // Distinct names hash apart here (the table still compares bytes on a shared hash).
  t.not(enc.encode('a', m).nameHash, enc.encode('b', m).nameHash);
});
