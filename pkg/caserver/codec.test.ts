import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { CodecError, decodeCaRequest, encodeCaResponse } from './codec';
import { defaultProtoDir, loadCaService } from './proto';
import type { CaRequest } from './proto';

// Oracles: proto-loader/protobufjs (the codec clients use) and protoc.
const method = loadCaService().definition.CreateCertificate!;
const serializeRequest = (r: object): Buffer => method.requestSerialize(r);
const deserializeRequest = (b: Buffer): CaRequest => method.requestDeserialize(b) as CaRequest;
const deserializeResponse = (b: Buffer): { cert_chain: string[] } => method.responseDeserialize(b) as { cert_chain: string[] };

/** What the CA reads from a request: compare ours and protobufjs' on exactly that. */
function view(r: CaRequest): unknown {
  const fields = r.metadata?.fields ?? {};
  return {
    csr: r.csr,
    ttl: String(r.validity_duration),
    metadata: r.metadata ? Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, { kind: v?.kind, stringValue: v?.stringValue }])) : null,
  };
}

t.test('requests decode as protobufjs decodes them', async (t) => {
  const cases: object[] = [
    {},
    { csr: '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n', validity_duration: 86400 },
    { csr: 'ünïcødé ✓', validity_duration: '-1' },
    { csr: 'x', validity_duration: '9223372036854775807' },
    { csr: 'x', validity_duration: '-9223372036854775808' },
    { csr: 'x'.repeat(70_000), validity_duration: 1 },
    { metadata: { fields: {} } },
    { csr: 'c', metadata: { fields: { ImpersonatedIdentity: { stringValue: 'spiffe://cluster.local/ns/a/sa/b' } } } },
    {
      csr: 'c',
      validity_duration: 3600,
      metadata: {
        fields: {
          ImpersonatedIdentity: { numberValue: 1.5 },
          a: { boolValue: true },
          b: { nullValue: 'NULL_VALUE' },
          c: { structValue: { fields: { d: { stringValue: 'e' } } } },
          f: { listValue: { values: [{ stringValue: 'g' }, { numberValue: 2 }] } },
          h: { stringValue: '' },
        },
      },
    },
  ];
  for (const c of cases) {
    const wire = serializeRequest(c);
    t.same(view(decodeCaRequest(wire)), view(deserializeRequest(wire)), JSON.stringify(c).slice(0, 100));
  }
  // Field order on the wire does not matter, unknown fields are skipped, a repeated scalar's last value wins.
  const a = serializeRequest({ csr: 'first', validity_duration: 5 });
  const b = serializeRequest({ csr: 'second', metadata: { fields: { k: { stringValue: 'v' } } } });
  const unknown = Buffer.from([0x28, 0x96, 0x01, 0x31, 1, 2, 3, 4, 5, 6, 7, 8, 0x3d, 1, 2, 3, 4, 0x42, 2, 0x61, 0x62, 0x4b, 0x08, 1, 0x4c]);
  const mixed = Buffer.concat([b, unknown, a]);
  t.same(view(decodeCaRequest(mixed)), view(deserializeRequest(mixed)), 'concatenated messages merge like protobufjs');
});

t.test('responses encode byte for byte like protobufjs, and protoc reads them', async (t) => {
  const chain = ['leaf ✓\n', 'intermediate\n', 'root'.repeat(400) + '\n'];
  const ours = encodeCaResponse({ cert_chain: chain });
  t.same(ours, method.responseSerialize({ cert_chain: chain }), 'same bytes as protobufjs');
  t.same(deserializeResponse(ours).cert_chain, chain);
  // The cached tail encodings are reused, never mutated.
  t.same(encodeCaResponse({ cert_chain: ['other leaf', ...chain.slice(1)] }), method.responseSerialize({ cert_chain: ['other leaf', ...chain.slice(1)] }));
  t.same(encodeCaResponse({ cert_chain: chain }), ours);
  const protoDir = defaultProtoDir();
  const text = execFileSync('protoc', [`-I${protoDir}`, '-I/usr/include', '--decode=istio.v1.auth.IstioCertificateResponse', path.join(protoDir, 'istio/v1/auth/citadel.proto')], { input: ours }).toString();
  t.equal((text.match(/^cert_chain: /gm) ?? []).length, 3, 'protoc sees three cert_chain elements');
  t.match(text, /cert_chain: "intermediate\\n"/);
});

t.test('malformed wire data fails only with CodecError (seeded fuzz)', async (t) => {
  const base = serializeRequest({
    csr: '-----BEGIN CERTIFICATE REQUEST-----\nMIIBAAAA\n-----END CERTIFICATE REQUEST-----\n',
    validity_duration: 86400,
    metadata: { fields: { ImpersonatedIdentity: { stringValue: 'spiffe://cluster.local/ns/a/sa/b' }, n: { listValue: { values: [{ numberValue: 1 }] } } } },
  });
  let seed = 0xc0dec;
  const rnd = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const protoDir = defaultProtoDir();
  /** protoc's reading of the request: undefined if it refuses, else the CSR bytes it decoded. */
  const protocCsr = (wire: Buffer): Buffer | undefined => {
    const r = spawnSync('protoc', [`-I${protoDir}`, '-I/usr/include', '--decode=istio.v1.auth.IstioCertificateRequest', path.join(protoDir, 'istio/v1/auth/citadel.proto')], { input: wire });
    if (r.status !== 0) return undefined;
    const m = /^csr: "((?:[^"\\]|\\.)*)"$/m.exec(r.stdout.toString());
    return m ? unescapeText(m[1]!) : Buffer.alloc(0);
  };
  const unexpected: string[] = [];
  const verdicts: string[] = [];
  let refused = 0;
  let judged = 0;
  for (let i = 0; i < 3000; i++) {
    let wire = Buffer.from(base);
    const kind = Math.floor(rnd() * 3);
    if (kind === 0) wire[Math.floor(rnd() * wire.length)] = Math.floor(rnd() * 256);
    else if (kind === 1) wire = wire.subarray(0, Math.floor(rnd() * wire.length));
    else wire = Buffer.concat([wire.subarray(0, Math.floor(rnd() * wire.length)), Buffer.from([Math.floor(rnd() * 256)]), wire.subarray(Math.floor(rnd() * wire.length))]);
    let ours: CaRequest | undefined;
    try {
      ours = decodeCaRequest(wire);
    } catch (e) {
      if (!(e instanceof CodecError)) unexpected.push(`${i}: ${(e as Error).stack}`);
      refused++;
    }
    let theirs: CaRequest | undefined;
    try {
      theirs = deserializeRequest(wire);
    } catch {
      theirs = undefined;
    }
    // Where protobufjs reads it differently (it ignores wire types of known fields, lets
    // nested messages run past their parent and accepts invalid UTF-8), protoc decides.
    if ((ours === undefined) !== (theirs === undefined) || (ours && theirs && ours.csr !== theirs.csr)) {
      if (judged >= 40) continue;
      judged++;
      const p = protocCsr(wire);
      if ((p === undefined) !== (ours === undefined) || (p && ours && !p.equals(Buffer.from(ours.csr, 'utf8')))) {
        verdicts.push(`${i}: ours ${ours ? JSON.stringify(ours.csr.slice(0, 40)) : 'refused'}, protoc ${p ? JSON.stringify(p.toString().slice(0, 40)) : 'refused'} (${wire.toString('hex')})`);
      }
    }
  }
  t.same(unexpected.slice(0, 3), [], 'only CodecError');
  t.ok(refused > 100, `many mutations refused (${refused})`);
  t.ok(judged > 0, `some disagreements with protobufjs went to protoc (${judged})`);
  t.same(verdicts.slice(0, 3), [], 'where protobufjs and this codec disagree, protoc agrees with this codec');
});

/** protoc text-format string escapes (C escapes, octal for other bytes) → bytes. */
function unescapeText(s: string): Buffer {
  const out: number[] = [];
  const simple: Record<string, number> = { n: 10, r: 13, t: 9, '"': 34, "'": 39, '\\': 92 };
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '\\') {
      out.push(...Buffer.from(s[i]!, 'utf8'));
      continue;
    }
    const c = s[++i]!;
    if (c in simple) out.push(simple[c]!);
    else {
      const oct = /^[0-7]{1,3}/.exec(s.slice(i))![0];
      out.push(parseInt(oct, 8));
      i += oct.length - 1;
    }
  }
  return Buffer.from(out);
}

t.test('hostile shapes: deep groups, huge lengths, overlong varints, field 0, invalid UTF-8', async (t) => {
  t.throws(() => decodeCaRequest(Buffer.from([0x0a, 2, 0xc3, 0x28])), { name: 'CodecError' }, 'invalid UTF-8 in a string');
  const deepGroups = Buffer.concat([Buffer.alloc(40, 0x2b), Buffer.alloc(40, 0x2c)]); // field 5 start/end group
  t.throws(() => decodeCaRequest(deepGroups), { name: 'CodecError' });
  t.same(view(decodeCaRequest(Buffer.from([0x2b, 0x08, 0x01, 0x2c]))), view(deserializeRequest(Buffer.from([0x2b, 0x08, 0x01, 0x2c]))), 'a shallow group is skipped');
  t.throws(() => decodeCaRequest(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])), { name: 'CodecError' }, 'length beyond the message');
  t.throws(() => decodeCaRequest(Buffer.from([0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), { name: 'CodecError' }, '11-byte varint');
  t.throws(() => decodeCaRequest(Buffer.from([0x00, 0x00])), { name: 'CodecError' }, 'field number 0');
  t.throws(() => decodeCaRequest(Buffer.from([0x0c])), { name: 'CodecError' }, 'stray end group');
  t.throws(() => decodeCaRequest(Buffer.from([0x0f])), { name: 'CodecError' }, 'wire type 7');
  // Struct { fields: { "__proto__": { string_value: "x" } } }, built by hand (object literals cannot carry that key).
  const entry = Buffer.concat([Buffer.from([0x0a, 9]), Buffer.from('__proto__'), Buffer.from([0x12, 3, 0x1a, 1, 0x78])]);
  const wire = Buffer.concat([Buffer.from([0x22, entry.length + 2, 0x0a, entry.length]), entry]);
  const fields = decodeCaRequest(wire).metadata!.fields!;
  t.equal(Object.getPrototypeOf(fields), null, 'map keys never reach Object.prototype');
  t.same(Object.getOwnPropertyDescriptor(fields, '__proto__')?.value, { kind: 'stringValue', stringValue: 'x' });
});
