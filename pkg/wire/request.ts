import type protobuf from 'protobufjs';
import { structToPlain } from './struct';
import { decodedAs } from './decoded';
import { InitialVersions, InitialVersionsCollector } from './initial-versions';

export class WireError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'WireError';
  }
}

export interface NodeInfo {
  id: string;
  cluster: string;
  metadata: Record<string, unknown>;
}

/** A validated DeltaDiscoveryRequest in plain form. */
export interface DeltaRequest {
  node?: NodeInfo;
  typeUrl: string;
  subscribe: string[];
  unsubscribe: string[];
  initialResourceVersions: InitialVersions;
  responseNonce: string;
  /** Present iff this is a NACK; ztunnel leaves code at 0, so presence is the signal. */
  errorDetail?: { code: number; message: string };
}

interface RawRequest {
  node?: { id?: string; cluster?: string; metadata?: unknown };
  typeUrl?: string;
  resourceNamesSubscribe?: string[];
  resourceNamesUnsubscribe?: string[];
  initialResourceVersions?: Record<string, string>;
  responseNonce?: string;
  errorDetail?: { code?: number; message?: string };
}

/**
 * Decodes and validates one request. Throws WireError on malformed bytes.
 *
 * The top level is parsed by hand: a reconnecting ztunnel's
 * initial_resource_versions holds one entry per resource it knows (50k+), and
 * reading that map straight into a Map costs a fraction of protobufjs's
 * object-then-entries path. Small nested messages (node, error_detail) still
 * go through protobufjs.
 */
export function decodeDeltaRequest(type: protobuf.Type, bytes: Uint8Array): DeltaRequest {
  const s = scanDeltaRequest(type, bytes);
  s.request.subscribe = s.subscribe.strings(0, s.subscribe.length);
  s.request.unsubscribe = s.unsubscribe.strings(0, s.unsubscribe.length);
  return s.request;
}

/** One repeated string field's values, kept as byte ranges of the message until asked for. */
export class NameList {
  constructor(
    private readonly b: Buffer,
    private readonly offs: Uint32Array,
    readonly length: number,
  ) {}

  /** Values [from, to) as strings (one UTF-8 decode each). */
  strings(from: number, to: number): string[] {
    const end = Math.min(to, this.length);
    const out: string[] = [];
    const o = this.offs;
    for (let i = Math.max(0, from); i < end; i++) out.push(this.b.toString('utf8', o[2 * i], o[2 * i + 1]));
    return out;
  }
}

/** A request validated whole, whose resource names are not strings yet (its subscribe/unsubscribe are empty). */
export interface ScannedRequest {
  readonly request: DeltaRequest;
  readonly subscribe: NameList;
  readonly unsubscribe: NameList;
}

/**
 * Validates a request like decodeDeltaRequest but leaves the resource names
 * as byte ranges: a 4 MiB request holds ~350k names, and a caller that
 * applies them in slices makes the strings of one slice at a time.
 */
export function scanDeltaRequest(type: protobuf.Type, bytes: Uint8Array): ScannedRequest {
  try {
    return fastDecode(
      type,
      Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    );
  } catch (e) {
    if (e instanceof WireError) throw e;
    throw new WireError('xds.request_malformed', `cannot decode DeltaDiscoveryRequest: ${(e as Error).message}`);
  }
}

/** Growing (start, end) pairs of byte offsets. */
class Ranges {
  offs = new Uint32Array(0);
  n = 0;
  add(s: number, e: number): void {
    if (2 * this.n + 2 > this.offs.length) {
      const grown = new Uint32Array(Math.max(32, this.offs.length * 2));
      grown.set(this.offs);
      this.offs = grown;
    }
    this.offs[2 * this.n] = s;
    this.offs[2 * this.n + 1] = e;
    this.n++;
  }
  list(b: Buffer): NameList {
    return new NameList(b, this.offs, this.n);
  }
}

/** Reference decoder (protobufjs all the way); kept for tests that cross-check fastDecode. */
export function decodeDeltaRequestSlow(type: protobuf.Type, bytes: Uint8Array): DeltaRequest {
  let raw: RawRequest;
  try {
    raw = decodedAs<RawRequest>(type.decode(bytes));
  } catch (e) {
    throw new WireError('xds.request_malformed', `cannot decode DeltaDiscoveryRequest: ${(e as Error).message}`);
  }
  const req: DeltaRequest = {
    typeUrl: raw.typeUrl ?? '',
    subscribe: raw.resourceNamesSubscribe ?? [],
    unsubscribe: raw.resourceNamesUnsubscribe ?? [],
    initialResourceVersions: InitialVersions.fromMap(new Map(Object.entries(raw.initialResourceVersions ?? {}))),
    responseNonce: raw.responseNonce ?? '',
  };
  if (raw.node) {
    req.node = { id: raw.node.id ?? '', cluster: raw.node.cluster ?? '', metadata: structToPlain(raw.node.metadata) };
  }
  // protobufjs leaves absent message fields undefined/null, so presence is exact.
  if (raw.errorDetail) req.errorDetail = { code: raw.errorDetail.code ?? 0, message: raw.errorDetail.message ?? '' };
  return req;
}

function malformed(why: string): never {
  throw new WireError('xds.request_malformed', `cannot decode DeltaDiscoveryRequest: ${why}`);
}

class Reader {
  p = 0;
  constructor(
    readonly b: Buffer,
    readonly end: number = b.length,
  ) {}
  varint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.p >= this.end) malformed('truncated varint');
      const byte = this.b[this.p++]!;
      v += (byte & 0x7f) * mul;
      if (byte < 0x80) return v;
      mul *= 128;
    }
    return malformed('varint too long');
  }
  bytesEnd(): number {
    const len = this.varint();
    const e = this.p + len;
    if (e > this.end) malformed('length past end of message');
    return e;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.p += 8;
    else if (wire === 2) this.p = this.bytesEnd();
    else if (wire === 5) this.p += 4;
    else malformed(`unsupported wire type ${wire}`);
    if (this.p > this.end) malformed('truncated field');
  }
  str(e: number): string {
    const s = this.b.toString('utf8', this.p, e);
    this.p = e;
    return s;
  }
}

function fastDecode(type: protobuf.Type, b: Buffer): ScannedRequest {
  const req: DeltaRequest = {
    typeUrl: '',
    subscribe: [],
    unsubscribe: [],
    initialResourceVersions: EMPTY_IRV,
    responseNonce: '',
  };
  const sub = new Ranges();
  const unsub = new Ranges();
  const irv = new InitialVersionsCollector(b);
  const r = new Reader(b);
  const Node = type.fields.node!.resolvedType as protobuf.Type;
  const Status = type.fields.errorDetail!.resolvedType as protobuf.Type;
  while (r.p < r.end) {
    const at = r.p;
    const tag = r.varint();
    // Tags are uint32 with a non-zero field number; bitwise ops would wrap larger values.
    if (tag > 0xffffffff || tag < 8) malformed(`invalid tag ${tag}`);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field < 1 || field > 7) {
      r.skip(wire); // unknown fields are skipped, as protobuf requires
      continue;
    }
    // Every known field is length-delimited; another wire type is malformed (protoc agrees).
    if (wire !== 2) malformed(`field ${field} has wire type ${wire}`);
    const e = r.bytesEnd();
    switch (field) {
      case 1: {
        const n = decodedAs<{ id?: string; cluster?: string; metadata?: unknown }>(Node.decode(b.subarray(r.p, e)));
        req.node = { id: n.id ?? '', cluster: n.cluster ?? '', metadata: structToPlain(n.metadata) };
        r.p = e;
        break;
      }
      case 2:
        req.typeUrl = r.str(e);
        break;
      case 3:
        sub.add(r.p, e);
        r.p = e;
        break;
      case 4:
        unsub.add(r.p, e);
        r.p = e;
        break;
      case 5: {
        // map<string,string> entry: key = 1, value = 2; missing fields default to "".
        // Recorded as byte offsets; strings are made only if someone asks. A
        // reconnect lists ~50k entries one after another: the run from this
        // entry's tag on is read in one tight loop (InitialVersionsCollector);
        // an entry in another encoding takes the general loop.
        const q = irv.scanRun(at, r.end);
        if (q > at) {
          r.p = q;
          continue;
        }
        let ks = 0,
          ke = 0,
          vs = 0,
          ve = 0;
        while (r.p < e) {
          const t = r.varint();
          if (t > 0xffffffff || t < 8) malformed(`invalid tag ${t}`);
          if (t % 8 !== 2) {
            r.skip(t % 8);
            if (r.p > e) malformed('map entry field overruns the entry');
            continue;
          }
          const fe = r.bytesEnd();
          if (fe > e) malformed('map entry overruns');
          if (Math.floor(t / 8) === 1) {
            ks = r.p;
            ke = fe;
          } else if (Math.floor(t / 8) === 2) {
            vs = r.p;
            ve = fe;
          }
          r.p = fe;
        }
        irv.add(ks, ke, vs, ve);
        r.p = e;
        break;
      }
      case 6:
        req.responseNonce = r.str(e);
        break;
      case 7: {
        const st = decodedAs<{ code?: number; message?: string }>(Status.decode(b.subarray(r.p, e)));
        req.errorDetail = { code: st.code ?? 0, message: st.message ?? '' };
        r.p = e;
        break;
      }
    }
    if (r.p !== e) malformed('field length mismatch');
  }
  // Duplicate keys (protobuf map: last wins) are detected by the consumer's
  // byte-level match, which then falls back to toMap().
  if (irv.size > 0) req.initialResourceVersions = irv.finish();
  return { request: req, subscribe: sub.list(b), unsubscribe: unsub.list(b) };
}

const EMPTY_IRV = InitialVersions.fromMap(new Map());
