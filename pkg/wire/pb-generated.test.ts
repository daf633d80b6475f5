import t from 'tap';
import { execFileSync } from 'node:child_process';
import protobuf from 'protobufjs';
import {
  CODECS,
  codecForTypeUrl,
  contentVersion,
  encodeMessage,
  encodeResourceFrame,
  loadWire,
  ResourceFrameEncoder,
  TYPE_ADDRESS,
  TYPE_AUTHORIZATION,
  type MessageCodec,
} from './index';

// The generated encoders against two independent implementations: protobufjs's
// reflective encoder (same input form) and protoc (decode our bytes, encode the
// text back: protoc's canonical bytes, which must equal ours byte for byte).
const wire = loadWire();
const ROOTS: [string, MessageCodec<object>, string][] = [
  ['istio.workload.Address', CODECS['istio.workload.Address'], 'istio/workload/workload.proto'],
  ['istio.security.Authorization', CODECS['istio.security.Authorization'], 'istio/security/authorization.proto'],
];

let seed = 7;
const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x7fffffff;
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const STRINGS = ['', 'a', 'ns-1/pod-7', 'Kubernetes//Pod/default/a', 'ü-é', '😀x', 'x'.repeat(200), '12', '3'];
const UINTS = [0, 1, 127, 128, 16_383, 16_384, 2_097_152, 2 ** 31, 2 ** 32 - 1];
const bytes = (): Buffer =>
  Buffer.from(Array.from({ length: pick([0, 4, 16, 5, 200]) }, () => Math.floor(rnd() * 256)));

/**
 * A random message in protobufjs object form covering every field kind the
 * type has. `defaults`: implicit-presence fields are sometimes set to their
 * default explicitly (proto3 must omit them; protobufjs writes them).
 */
function randomMessage(type: protobuf.Type, depth: number, defaults: boolean): Record<string, unknown> {
  const m: Record<string, unknown> = {};
  const oneofChosen = new Map<protobuf.OneOf, protobuf.Field | null>();
  for (const o of type.oneofsArray) {
    const real = !o.name.startsWith('_'); // `_x`: a proto3 optional's synthetic oneof
    oneofChosen.set(o, real ? (rnd() < 0.8 ? pick(o.fieldsArray) : null) : rnd() < 0.5 ? o.fieldsArray[0]! : null);
  }
  for (const f of type.fieldsArray) {
    if (f.partOf) {
      if (oneofChosen.get(f.partOf) !== f) continue;
      m[f.name] = value(f, depth, true, defaults); // explicit presence: a default is still written
      continue;
    }
    if (rnd() < 0.25) continue;
    const fv = (): unknown => value(f, depth, defaults, defaults);
    if (f instanceof protobuf.MapField) {
      // protoc's text format prints map entries sorted by key, so its re-encoding is sorted too: keys go in
      // that order here (no integer-like keys, which JS objects enumerate first).
      const keys = [...new Set(Array.from({ length: Math.floor(rnd() * 4) }, () => pick(STRINGS)))]
        .filter((k) => !/^\d+$/.test(k))
        .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      m[f.name] = Object.fromEntries(keys.map((k) => [k, fv()]));
    } else if (f.repeated) {
      m[f.name] = Array.from({ length: Math.floor(rnd() * 4) }, () => value(f, depth, true, defaults));
    } else m[f.name] = fv();
  }
  return m;
}

/** A random value for f (`mayBeDefault`: its default allowed); nested messages get `defaults` as above. */
function value(f: protobuf.Field, depth: number, mayBeDefault: boolean, defaults: boolean): unknown {
  const rt = f.resolvedType;
  if (rt instanceof protobuf.Type) return depth > 4 ? {} : randomMessage(rt, depth + 1, defaults);
  let v: unknown;
  for (let tries = 0; tries < 20; tries++) {
    if (rt instanceof protobuf.Enum) v = pick(Object.values(rt.values));
    else if (f.type === 'string') v = pick(STRINGS);
    else if (f.type === 'bytes') v = bytes();
    else if (f.type === 'bool') v = rnd() < 0.5;
    else if (f.type === 'uint32' || f.type === 'int32') {
      v = pick(UINTS.filter((x) => f.type === 'uint32' || x < 2 ** 31));
    } else throw new Error(`unexpected ${f.type}`);
    const isDefault = v === '' || v === 0 || v === false || (v instanceof Uint8Array && v.length === 0);
    if (mayBeDefault || !isDefault) return v;
  }
  return v;
}

const protocCanonical = (type: string, file: string, b: Uint8Array): Buffer => {
  const text = execFileSync('protoc', [`-I${wire.protoDir}`, `--decode=${type}`, file], { input: Buffer.from(b) });
  return execFileSync('protoc', [`-I${wire.protoDir}`, `--encode=${type}`, file], { input: text });
};

t.test('generated encoders equal protobufjs byte for byte on random default-free messages', async (t) => {
  for (const [name, codec] of ROOTS) {
    const type = wire.type(name);
    for (let i = 0; i < 400; i++) {
      const m = randomMessage(type, 0, false);
      const ours = encodeMessage(codec, m);
      const theirs = Buffer.from(type.encode(m).finish());
      if (!ours.equals(theirs)) {
        t.fail(`${name} case ${i}: ${JSON.stringify(type.toObject(type.decode(theirs)))}`);
        return;
      }
    }
    t.pass(`${name}: 400 random messages identical`);
  }
});

t.test("explicit defaults are omitted (proto3) and the message still decodes equal to protobufjs's", async (t) => {
  for (const [name, codec] of ROOTS) {
    const type = wire.type(name);
    let shorter = 0;
    for (let i = 0; i < 400; i++) {
      const m = randomMessage(type, 0, true);
      const ours = encodeMessage(codec, m);
      const theirs = type.encode(m).finish();
      if (ours.length < theirs.length) shorter++;
      const plain = (b: Uint8Array): object => type.toObject(type.decode(b), { defaults: true, arrays: true });
      t.same(plain(ours), plain(theirs), `${name} case ${i}`);
    }
    t.ok(shorter > 0, `${name}: some explicit defaults were left out (${shorter} of 400)`);
  }
});

t.test('protoc re-encodes our bytes to the same bytes (random messages, with explicit defaults)', async (t) => {
  for (const [name, codec, file] of ROOTS) {
    const type = wire.type(name);
    for (let i = 0; i < 25; i++) {
      const ours = encodeMessage(codec, randomMessage(type, 0, i % 2 === 0));
      t.same(protocCanonical(name, file, ours), ours, `${name} case ${i} (${ours.length} bytes)`);
    }
  }
});

t.test('negative int32 enums take 10 bytes, like protobufjs and protoc', async (t) => {
  const m = { name: 'p', action: -1 };
  const ours = encodeMessage(CODECS['istio.security.Authorization'], m);
  t.same(ours, Buffer.from(wire.Authorization.encode(m).finish()));
  t.same(protocCanonical('istio.security.Authorization', 'istio/security/authorization.proto', ours), ours);
});

t.test('a generated frame equals encodeResourceFrame over protobufjs bytes with the SHA-256 version', async (t) => {
  const enc = new ResourceFrameEncoder(TYPE_ADDRESS, CODECS['istio.workload.Address']);
  for (let i = 0; i < 200; i++) {
    const m = randomMessage(wire.Address, 0, false);
    const value = wire.Address.encode(m).finish();
    const name = pick(STRINGS) + String(i);
    const f = enc.encode(name, m);
    t.same(f.bytes, encodeResourceFrame(name, contentVersion(name, value), TYPE_ADDRESS, value), `case ${i}`);
    t.equal(f.nameLen, Buffer.byteLength(name));
  }
  // A message larger than the initial scratch buffer (64 KiB) and size stack (4,096 lengths) grows both.
  const policies = Array.from({ length: 5000 }, (_, i) => `ns/policy-${i}`);
  const big = { workload: { uid: 'u', authorizationPolicies: policies } };
  const value = wire.Address.encode(big).finish();
  t.same(enc.encode('u', big).bytes, encodeResourceFrame('u', contentVersion('u', value), TYPE_ADDRESS, value));
});

t.test('codecs are found by type URL; other types have none', async (t) => {
  t.equal(codecForTypeUrl(TYPE_ADDRESS), CODECS['istio.workload.Address']);
  t.equal(codecForTypeUrl(TYPE_AUTHORIZATION), CODECS['istio.security.Authorization']);
  t.equal(codecForTypeUrl('type.googleapis.com/istio.peering.Nothing'), undefined);
});
