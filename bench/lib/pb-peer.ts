import { skip, varint, writeVarint } from './pb';

/**
 * The peer side of the mesh simulator's wire, written by hand so that N = 10,000 virtual peers
 * keep no protobufjs objects: the few DeltaDiscoveryRequest fields a peer answers to, and
 * DeltaDiscoveryResponses assembled from pre-encoded parts (field numbers from envoy's
 * discovery.proto: response resources=2, type_url=4, nonce=5; Resource version=1, resource=2,
 * name=3; Any type_url=1, value=2; request node=1 {id=1}, type_url=2, initial_resource_versions=5
 * {key=1, value=2}, response_nonce=6).
 */
export interface LiteRequest {
  nodeId: string;
  typeUrl: string;
  responseNonce: string;
  irv: Map<string, string>;
}

function fields(buf: Buffer, start: number, end: number, on: (f: number, s: number, e: number) => void): void {
  const pos = { p: start };
  while (pos.p < end) {
    const tag = varint(buf, pos);
    if ((tag & 7) !== 2) {
      skip(buf, tag & 7, pos);
      continue;
    }
    const len = varint(buf, pos);
    on(Math.floor(tag / 8), pos.p, pos.p + len);
    pos.p += len;
  }
}

export function parseRequestLite(buf: Buffer): LiteRequest {
  const out: LiteRequest = { nodeId: '', typeUrl: '', responseNonce: '', irv: new Map() };
  const str = (s: number, e: number): string => buf.toString('utf8', s, e);
  fields(buf, 0, buf.length, (f, s, e) => {
    if (f === 1) fields(buf, s, e, (g, s2, e2) => void (g === 1 && (out.nodeId = str(s2, e2))));
    else if (f === 2) out.typeUrl = str(s, e);
    else if (f === 6) out.responseNonce = str(s, e);
    else if (f === 5) {
      let k = '';
      let v = '';
      fields(buf, s, e, (g, s2, e2) => void (g === 1 ? (k = str(s2, e2)) : g === 2 && (v = str(s2, e2))));
      out.irv.set(k, v);
    }
  });
  return out;
}

/** Tag + length prefix of a length-delimited field. */
export function head(field: number, len: number): Buffer {
  const h: number[] = [];
  writeVarint(h, field * 8 + 2);
  writeVarint(h, len);
  return Buffer.from(h);
}

export const lenField = (field: number, body: Buffer): Buffer => Buffer.concat([head(field, body.length), body]);

/** A varint field (wire type 0). */
export function varintField(field: number, v: number): Buffer {
  const h: number[] = [];
  writeVarint(h, field * 8);
  writeVarint(h, v);
  return Buffer.from(h);
}

/** One Resource entry (field 2 of the response) for an already-encoded body. */
export function resourceEntry(typeField: Buffer, name: Buffer, version: string, body: Buffer): Buffer {
  const any = Buffer.concat([typeField, head(2, body.length), body]);
  const res = Buffer.concat([lenField(3, name), lenField(1, Buffer.from(version)), head(2, any.length), any]);
  return Buffer.concat([head(2, res.length), res]);
}

/** A gRPC-framed DeltaDiscoveryResponse: pre-encoded resource entries, type_url, nonce. */
export function frameResponse(entries: readonly Buffer[], typeUrl: Buffer, nonce: string): Buffer {
  const parts = [Buffer.alloc(5), ...entries, typeUrl, lenField(5, Buffer.from(nonce))];
  const msg = Buffer.concat(parts);
  msg.writeUInt32BE(msg.length - 5, 1);
  return msg;
}

/** A varint at buf[p..end), or undefined if it is cut off there: [value, next position]. */
function varintAt(buf: Buffer, p: number, end: number): [number, number] | undefined {
  let v = 0;
  let mul = 1;
  while (p < end) {
    const b = buf[p++]!;
    v += (b & 0x7f) * mul;
    if (b < 0x80) return [v, p];
    mul *= 128;
  }
  return undefined;
}

/**
 * Reads a stream of gRPC-framed DeltaDiscoveryResponses chunk by chunk without ever holding a
 * whole message: each top-level field (one Resource, the type_url, the nonce) is handled as soon
 * as its bytes are in, and only an incomplete field's bytes are carried to the next chunk. A
 * first sync of a million names (hundreds of MB) thus costs a chunk of memory, not two copies
 * of the message. `onName` gets the byte range of every resource name; `onMessage` the type_url
 * and nonce at the end of each message.
 */
export class ResponseScanner {
  private carry: Buffer = Buffer.alloc(0);
  /** Bytes of the current message still to come (-1: between messages). */
  private left = -1;
  private typeUrl = '';
  private nonce = '';

  constructor(
    private readonly o: {
      onName: (buf: Buffer, start: number, end: number) => void;
      onMessage: (typeUrl: string, nonce: string) => void;
    },
  ) {}

  push(chunk: Buffer): void {
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    let p = 0;
    const end = buf.length;
    for (;;) {
      if (this.left < 0) {
        if (end - p < 5) break;
        this.left = buf.readUInt32BE(p + 1);
        p += 5;
        this.typeUrl = '';
        this.nonce = '';
      }
      if (this.left === 0) {
        this.left = -1;
        this.o.onMessage(this.typeUrl, this.nonce);
        continue;
      }
      const tag = varintAt(buf, p, end);
      if (!tag) break;
      let q = tag[1];
      let fieldEnd: number;
      if ((tag[0] & 7) === 2) {
        const len = varintAt(buf, q, end);
        if (!len) break;
        q = len[1];
        fieldEnd = q + len[0];
      } else if ((tag[0] & 7) === 0) {
        const v = varintAt(buf, q, end);
        if (!v) break;
        fieldEnd = v[1];
      } else {
        fieldEnd = q + ((tag[0] & 7) === 1 ? 8 : 4);
      }
      if (fieldEnd > end) break;
      const f = Math.floor(tag[0] / 8);
      if (f === 4) this.typeUrl = buf.toString('utf8', q, fieldEnd);
      else if (f === 5) this.nonce = buf.toString('utf8', q, fieldEnd);
      else if (f === 2) fields(buf, q, fieldEnd, (g, s, e) => void (g === 3 && this.o.onName(buf, s, e)));
      this.left -= fieldEnd - p;
      p = fieldEnd;
    }
    // Only the unfinished field (or frame header) is kept; a copy, so the chunk itself is not retained.
    this.carry = p < end ? Buffer.from(buf.subarray(p)) : Buffer.alloc(0);
  }
}
