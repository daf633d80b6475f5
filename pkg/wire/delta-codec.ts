import protobuf from 'protobufjs';
import { forEachLenField, readVarint } from './pb-reader';
import { putVarint, utf8Size, varintSize } from './pb-writer';
import { putContentVersion, VERSION_LEN } from './resource-encoder';

/**
 * Hand-assembled encoders for the two hot messages. Each Resource is encoded
 * once per version into a "frame" (field tag + length + bytes, ready to splice
 * into a DeltaDiscoveryResponse), so a push to N streams copies bytes N times
 * but encodes them once (go-control-plane#1324 is the bug this avoids).
 *
 * Field numbers (envoy/service/discovery/v3/discovery.proto):
 *   Resource: version=1, resource=2 (Any{type_url=1, value=2}), name=3, aliases=4
 *   DeltaDiscoveryResponse: system_version_info=1, resources=2, type_url=4,
 *   nonce=5, removed_resources=6
 */

/**
 * The content version of resource `name` with message bytes `value` (putContentVersion: SHA-256 over
 * Any.value's field and Resource.name's field, first 8 bytes as hex): the same bytes and name give the same
 * version on every replica and restart.
 */
export function contentVersion(name: string, value: Uint8Array): string {
  const f = encodeContentFrame(name, '', value);
  const [a, b] = frameVersionRange(f);
  return f.toString('latin1', a, b);
}

/**
 * Where Resource.version sits in a frame from encodeResourceFrame (our own
 * bytes, not input: no bounds checks): after the frame's tag and length, the
 * version is the first field.
 */
export function frameVersionRange(f: Uint8Array): [number, number] {
  const [, body] = readVarint(f, 1);
  const [len, at] = readVarint(f, body + 1);
  return [at, at + len];
}

/** Where Resource.resource (the Any) sits in a frame from encodeResourceFrame: after the version. */
function frameAnyRange(f: Uint8Array): [number, number] {
  const [, vEnd] = frameVersionRange(f);
  const [len, at] = readVarint(f, vEnd + 1);
  return [at, at + len];
}

/** Where Any.value's bytes are in a frame from encodeResourceFrame: [start, end) (empty when it has none). */
export function frameValueRange(f: Uint8Array): [number, number] {
  const [anyStart, anyEnd] = frameAnyRange(f);
  let range: [number, number] = [anyStart, anyStart];
  forEachLenField(f, anyStart, anyEnd, (field, s, e) => {
    if (field === 2) range = [s, e];
  });
  return range;
}

/** Length of Resource.name in a frame from encodeResourceFrame: its last field, after version and resource. */
export function frameNameLength(f: Uint8Array): number {
  return readVarint(f, frameAnyRange(f)[1] + 1)[0];
}

/**
 * Encodes Resource{name, version, resource: Any{typeUrl, value}} as a response
 * field-2 frame, sizes first and then one buffer: the nested writers it
 * replaces made three throw-away buffers per resource, ~1.5 KB of garbage per
 * entry during a 200k-entry first sync.
 */
export function encodeResourceFrame(name: string, version: string, typeUrl: string, value: Uint8Array): Buffer {
  const nameLen = Buffer.byteLength(name);
  const versionLen = Buffer.byteLength(version);
  const typeLen = Buffer.byteLength(typeUrl);
  const anyLen = 1 + varintSize(typeLen) + typeLen + 1 + varintSize(value.length) + value.length;
  const resLen =
    1 + varintSize(versionLen) + versionLen + 1 + varintSize(anyLen) + anyLen + 1 + varintSize(nameLen) + nameLen;
  const b = Buffer.allocUnsafe(1 + varintSize(resLen) + resLen);
  let at = 0;
  b[at++] = 0x12; // DeltaDiscoveryResponse.resources
  at = putVarint(b, at, resLen);
  b[at++] = 0x0a; // Resource.version
  at = putVarint(b, at, versionLen);
  at += b.write(version, at);
  b[at++] = 0x12; // Resource.resource (Any)
  at = putVarint(b, at, anyLen);
  b[at++] = 0x0a; // Any.type_url
  at = putVarint(b, at, typeLen);
  at += b.write(typeUrl, at);
  b[at++] = 0x12; // Any.value
  at = putVarint(b, at, value.length);
  b.set(value, at);
  at += value.length;
  b[at++] = 0x1a; // Resource.name
  at = putVarint(b, at, nameLen);
  at += b.write(name, at);
  return b;
}

/** The version field's bytes until encodeContentFrame writes the version over them. */
const NO_VERSION = '0'.repeat(VERSION_LEN);

/**
 * encodeResourceFrame with the resource's content version (putContentVersion), hashed where the frame holds the
 * bytes it covers: Any.value's field and Resource.name's field, which end the frame.
 */
export function encodeContentFrame(name: string, typeUrl: string, value: Uint8Array): Buffer {
  const b = encodeResourceFrame(name, NO_VERSION, typeUrl, value);
  const nameLen = Buffer.byteLength(name);
  const covered = b.length - (1 + varintSize(nameLen) + nameLen) - (1 + varintSize(value.length) + value.length);
  putContentVersion(b, covered, b.length, b, frameVersionRange(b)[0]);
  return b;
}

/**
 * A piece of an encoded message that writers copy into their output: a
 * Buffer, or an object that makes its bytes only when copied (a cached
 * resource stored packed). Buffer.copy has this shape.
 */
export interface FramePart {
  readonly length: number;
  copy(target: Uint8Array, targetStart: number): number;
}

/** The part's bytes as one Buffer (a Buffer part itself, uncopied). */
export function partBytes(p: FramePart): Buffer {
  if (Buffer.isBuffer(p)) return p;
  const out = Buffer.allocUnsafe(p.length);
  p.copy(out, 0);
  return out;
}

/** Parts joined into one buffer. */
export function joinParts(parts: readonly FramePart[]): Buffer {
  if (parts.length === 1) return partBytes(parts[0]!);
  let n = 0;
  for (const p of parts) n += p.length;
  const out = Buffer.allocUnsafe(n);
  let at = 0;
  for (const p of parts) at += p.copy(out, at);
  return out;
}

export interface DeltaResponseParts {
  typeUrl: string;
  nonce: string;
  systemVersionInfo?: string;
  /** Frames from encodeResourceFrame (or cache entries, which write theirs). */
  frames: readonly FramePart[];
  removed: readonly string[];
}

/**
 * The same response minus its nonce, for fan-out: every wildcard stream that is
 * caught up to the same sequence number gets identical resources, so the body is
 * encoded once and each stream only appends its own nonce (withNonce).
 */
export function encodeDeltaResponseBody(p: Omit<DeltaResponseParts, 'nonce'>): Buffer {
  return p.frames.length === 0 ? encodeHead(p, undefined, 0) : joinWithHead(p, undefined);
}

/** Strings up to this length are measured and written by a JS loop when ASCII (type URL, nonce, version). */
const SHORT = 128;

/** UTF-8 byte length of s: counted in JS for a short string (no call into C++), else Buffer.byteLength. */
const utf8Length = (s: string): number => (s.length > SHORT ? Buffer.byteLength(s) : utf8Size(s));

const strField = (s: string): number => {
  const n = utf8Length(s);
  return 1 + varintSize(n) + n;
};

/**
 * A length-delimited string field. The head of a one-change response is three short ASCII strings, where
 * Buffer.byteLength and Buffer.write (two C++ calls each) cost more than a byte loop.
 */
function putStrField(b: Buffer, at: number, tag: number, s: string): number {
  b[at++] = tag;
  const n = utf8Length(s);
  at = putVarint(b, at, n);
  if (n !== s.length || n > SHORT) return at + b.write(s, at, n, 'utf8');
  for (let i = 0; i < n; i++) b[at + i] = s.charCodeAt(i);
  return at + n;
}

/**
 * The response's own fields (system_version_info=1, type_url=4, nonce=5,
 * removed_resources=6) written into one buffer sized for them plus `tail`
 * more bytes (the frames that follow, written by the caller), without protobufjs's Writer: a caught-up
 * stream's response to one change is this head plus one frame, and the
 * Writer's operation list and allocation were most of its cost.
 */
function encodeHead(p: Omit<DeltaResponseParts, 'nonce'>, nonce: string | undefined, tail: number): Buffer {
  let n = strField(p.typeUrl);
  if (p.systemVersionInfo) n += strField(p.systemVersionInfo);
  if (nonce !== undefined) n += strField(nonce);
  for (const r of p.removed) n += strField(r);
  const b = Buffer.allocUnsafe(n + tail);
  let at = 0;
  if (p.systemVersionInfo) at = putStrField(b, at, 0x0a, p.systemVersionInfo);
  at = putStrField(b, at, 0x22, p.typeUrl);
  if (nonce !== undefined) at = putStrField(b, at, 0x2a, nonce);
  for (const r of p.removed) at = putStrField(b, at, 0x32, r);
  return b;
}

/** Head and frames in one buffer: one allocation, each frame copied once. */
function joinWithHead(p: Omit<DeltaResponseParts, 'nonce'>, nonce: string | undefined): Buffer {
  let tail = 0;
  for (const f of p.frames) tail += f.length;
  const out = encodeHead(p, nonce, tail);
  let at = out.length - tail;
  for (const f of p.frames) at += f.copy(out, at);
  return out;
}

/**
 * The nonce as its own encoded field (5): appended after a shared body it
 * completes the response, and protobuf decoders accept fields in any order.
 * Fan-out writes [body, nonceField] without copying the body per stream.
 */
export function nonceField(nonce: string): Buffer {
  const n = Buffer.byteLength(nonce);
  if (n > 127) return Buffer.from(protobuf.Writer.create().uint32(0x2a).string(nonce).finish());
  const out = Buffer.allocUnsafe(2 + n);
  out[0] = 0x2a;
  out[1] = n;
  out.write(nonce, 2, 'utf8');
  return out;
}

/** body (from encodeDeltaResponseBody) + nonce field 5, as one buffer. */
export function withNonce(body: Buffer, nonce: string): Buffer {
  return Buffer.concat([body, nonceField(nonce)]);
}

/**
 * The response as [head, ...resource frames], uncopied: the transport writes
 * the frames (shared with the cache) in bounded chunks, so a 100 MB first sync
 * is never one 100 MB buffer per stream.
 */
export function encodeDeltaResponseParts(p: DeltaResponseParts): FramePart[] {
  return [encodeHead(p, p.nonce, 0), ...p.frames];
}

/** The whole response as one buffer (field order on the wire does not matter to protobuf decoders). */
export function encodeDeltaResponse(p: DeltaResponseParts): Buffer {
  return joinWithHead(p, p.nonce);
}
