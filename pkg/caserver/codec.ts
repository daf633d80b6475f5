// Server-side wire codec for IstioCertificateService (proto/istio/v1/auth/citadel.proto).
// proto-loader decodes into a protobufjs message and then converts it with
// toObject (defaults, oneofs, Long → string): about 3 % of a certificate's CPU
// on the CA path. The request has three fields and the response one repeated
// string, so both are coded by hand here; clients keep the proto-loader codec,
// which the tests use as the oracle for this one, with protoc as the judge
// where the two disagree (codec.test.ts).
import { isUtf8 } from 'node:buffer';
import type { CaRequest, CaResponse } from './proto';

export class CodecError extends Error {
  override name = 'CodecError';
}

/** Struct.fields value as the CA reads it: the oneof case and, for strings, the value. */
interface StructValue {
  kind?: string;
  stringValue?: string;
}

// google.protobuf.Value oneof `kind`, by field number (struct.proto).
const VALUE_KINDS: Record<number, string> = {
  1: 'nullValue',
  2: 'numberValue',
  3: 'stringValue',
  4: 'boolValue',
  5: 'structValue',
  6: 'listValue',
};

/** Groups and Structs nested deeper than this are refused rather than recursed into. */
const MAX_GROUP_DEPTH = 32;

class Reader {
  pos: number;
  constructor(readonly buf: Buffer, start: number, readonly end: number) {
    this.pos = start;
  }

  /** Varint as a non-negative number; arbitrary 64-bit values only via varint64(). */
  uint32(): number {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= this.end) throw new CodecError('truncated varint');
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return v >>> 0 === v ? v : v % 2 ** 32;
    }
    // Longer varints are legal for uint32 fields (sign-extended int32): skip the rest.
    this.skipVarint(5);
    return v % 2 ** 32;
  }

  /** A varint as a two's-complement int64, like protobufjs' Long with longs: String. */
  int64(): bigint {
    let v = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new CodecError('truncated varint');
      const b = this.buf[this.pos++]!;
      v |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (!(b & 0x80)) return BigInt.asIntN(64, v);
    }
    throw new CodecError('varint longer than 10 bytes');
  }

  /** Skips the rest of a varint, at most `max` more bytes (a varint is at most 10 bytes). */
  private skipVarint(max: number): void {
    for (let i = 0; i < max; i++) {
      if (this.pos >= this.end) throw new CodecError('truncated varint');
      if (!(this.buf[this.pos++]! & 0x80)) return;
    }
    throw new CodecError('varint longer than 10 bytes');
  }

  /** Length-delimited field: returns [start, end) and moves past it. */
  bytes(): [number, number] {
    const len = this.uint32();
    const start = this.pos;
    if (len > this.end - start) throw new CodecError('length exceeds message');
    this.pos = start + len;
    return [start, this.pos];
  }

  /** proto3 strings must be valid UTF-8; protoc and grpc-go refuse the message otherwise. */
  string(): string {
    const [s, e] = this.bytes();
    const b = this.buf.subarray(s, e);
    if (!isUtf8(b)) throw new CodecError('string field is not valid UTF-8');
    return b.toString('utf8');
  }

  skip(wireType: number, fieldNo: number, depth = 0): void {
    switch (wireType) {
      case 0:
        this.skipVarint(10);
        return;
      case 1:
        this.advance(8);
        return;
      case 2:
        this.bytes();
        return;
      case 5:
        this.advance(4);
        return;
      case 3: {
        // Deprecated groups: skip fields up to the matching end-group tag.
        if (depth >= MAX_GROUP_DEPTH) throw new CodecError('groups nested too deeply');
        for (;;) {
          if (this.pos >= this.end) throw new CodecError('unterminated group');
          const tag = this.uint32();
          if ((tag & 7) === 4) {
            if (tag >>> 3 !== fieldNo) throw new CodecError('mismatched end group');
            return;
          }
          this.skip(tag & 7, tag >>> 3, depth + 1);
        }
      }
      default:
        throw new CodecError(`invalid wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new CodecError('truncated fixed-width field');
    this.pos += n;
  }

  /** Next field tag; field number 0 is invalid on the wire. */
  tag(): { fieldNo: number; wireType: number } {
    const tag = this.uint32();
    const fieldNo = tag >>> 3;
    if (fieldNo === 0) throw new CodecError('field number 0');
    return { fieldNo, wireType: tag & 7 };
  }
}

// Wire type each Value member is sent with; a member with another wire type is an
// unknown field (skipped, the oneof unchanged), as protoc parses it.
const VALUE_WIRE_TYPES: Record<number, number> = { 1: 0, 2: 1, 3: 2, 4: 0, 5: 2, 6: 2 };

/**
 * google.protobuf.Value. Nested structs and lists are walked too (depth-bounded):
 * protoc refuses a message whose nested Struct/ListValue is malformed, so must we.
 */
function decodeValue(buf: Buffer, start: number, end: number, depth: number): StructValue {
  if (depth > MAX_GROUP_DEPTH) throw new CodecError('Struct nested too deeply');
  const r = new Reader(buf, start, end);
  const out: StructValue = {};
  while (r.pos < end) {
    const { fieldNo, wireType } = r.tag();
    const kind = VALUE_KINDS[fieldNo];
    if (kind === undefined || VALUE_WIRE_TYPES[fieldNo] !== wireType) {
      r.skip(wireType, fieldNo);
      continue;
    }
    // A later member of the oneof replaces an earlier one (proto3 oneof semantics).
    out.kind = kind;
    delete out.stringValue;
    if (fieldNo === 3) out.stringValue = r.string();
    else if (fieldNo === 5) {
      const [s, e] = r.bytes();
      decodeStruct(buf, s, e, depth + 1);
    } else if (fieldNo === 6) {
      const [s, e] = r.bytes();
      decodeList(buf, s, e, depth + 1);
    } else r.skip(wireType, fieldNo);
  }
  return out;
}

/** google.protobuf.ListValue: `repeated Value values = 1` (validated, not kept: the CA reads no lists). */
function decodeList(buf: Buffer, start: number, end: number, depth: number): void {
  const r = new Reader(buf, start, end);
  while (r.pos < end) {
    const { fieldNo, wireType } = r.tag();
    if (fieldNo === 1 && wireType === 2) {
      const [s, e] = r.bytes();
      decodeValue(buf, s, e, depth + 1);
    } else r.skip(wireType, fieldNo);
  }
}

/** google.protobuf.Struct: `map<string, Value> fields = 1`, each entry {key = 1, value = 2}. */
function decodeStruct(buf: Buffer, start: number, end: number, depth: number): { fields: Record<string, StructValue> } {
  const r = new Reader(buf, start, end);
  const fields: Record<string, StructValue> = Object.create(null) as Record<string, StructValue>;
  while (r.pos < end) {
    const { fieldNo, wireType } = r.tag();
    if (fieldNo !== 1 || wireType !== 2) {
      r.skip(wireType, fieldNo);
      continue;
    }
    const [es, ee] = r.bytes();
    const e = new Reader(buf, es, ee);
    let key = '';
    let value: StructValue = {};
    while (e.pos < ee) {
      const t = e.tag();
      if (t.fieldNo === 1 && t.wireType === 2) key = e.string();
      else if (t.fieldNo === 2 && t.wireType === 2) {
        const [vs, ve] = e.bytes();
        value = decodeValue(buf, vs, ve, depth + 1);
      } else e.skip(t.wireType, t.fieldNo);
    }
    // Later entries for the same key win, as in protobuf map parsing.
    fields[key] = value;
  }
  return { fields };
}

/**
 * IstioCertificateRequest { string csr = 1; int64 validity_duration = 3; Struct metadata = 4; }.
 * Unknown fields are skipped; malformed wire data throws CodecError (grpc-js
 * then answers INTERNAL, as it does for protobufjs decode errors).
 */
export function decodeCaRequest(buf: Buffer): CaRequest {
  const r = new Reader(buf, 0, buf.length);
  const req: CaRequest = { csr: '', validity_duration: '0', metadata: null };
  while (r.pos < buf.length) {
    const { fieldNo, wireType } = r.tag();
    if (fieldNo === 1 && wireType === 2) req.csr = r.string();
    else if (fieldNo === 3 && wireType === 0) req.validity_duration = r.int64().toString();
    else if (fieldNo === 4 && wireType === 2) {
      const [s, e] = r.bytes();
      req.metadata = decodeStruct(buf, s, e, 0);
    } else r.skip(wireType, fieldNo);
  }
  return req;
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(out: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    out[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[pos++] = n;
  return pos;
}

/** One `cert_chain` element (field 1, wire type 2) as bytes. */
function encodeChainElement(s: string): Buffer {
  const len = Buffer.byteLength(s, 'utf8');
  const out = Buffer.allocUnsafe(1 + varintLength(len) + len);
  out[0] = 0x0a;
  const p = writeVarint(out, 1, len);
  out.write(s, p, 'utf8');
  return out;
}

// The intermediates and the root bundle are the same string objects in every
// response (the Authority builds them once), so their encodings are kept. V8
// caches a string's hash, so the lookup does not rehash the PEM each time.
const TAIL_CACHE_MAX = 16;
const tailCache = new Map<string, Buffer>();

function encodedTail(s: string): Buffer {
  let b = tailCache.get(s);
  if (!b) {
    b = encodeChainElement(s);
    if (tailCache.size >= TAIL_CACHE_MAX) tailCache.delete(tailCache.keys().next().value as string);
    tailCache.set(s, b);
  }
  return b;
}

/** IstioCertificateResponse { repeated string cert_chain = 1; }. */
export function encodeCaResponse(res: CaResponse): Buffer {
  const chain = res.cert_chain;
  const parts = chain.map((s, i) => (i === 0 ? encodeChainElement(s) : encodedTail(s)));
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
