import * as crypto from 'node:crypto';
import { CODECS, type MessageCodec } from './pb-generated';
import { putString, putVarint, utf8Size, varintSize } from './pb-writer';

/** Hex digits of a content version (contentVersion's length). */
export const VERSION_LEN = 16;

/**
 * Writes the content version of b[start, end) as 16 hex digits at out[at]:
 * the first 8 bytes of its SHA-256, the same string contentVersion() gives,
 * so versions persisted before stay valid.
 *
 * Why SHA-256 and not a faster non-cryptographic 64-bit hash: the version is
 * all that tells a client (and the cache, which drops an upsert whose version
 * is unchanged) that a resource changed. Resource content is partly chosen by
 * whoever can write Kubernetes objects (names, labels that become canonical
 * names/revisions), and for unkeyed fast hashes (FNV, murmur, xxHash)
 * collisions can be constructed; a crafted collision would keep a stale
 * Address (e.g. an old IP bound to an identity) in every ztunnel. A keyed
 * hash would need one key shared by all replicas and restarts. Truncated to
 * 64 bits, SHA-256 leaves accidental collisions at 2^-64 per change of one
 * name, and constructing one costs ~2^32 hashes per try against a moving
 * target. Measured (bench/scenarios/encode.ts, `hash_*` figures): the
 * one-shot crypto.hash() costs a fraction of createHash()'s per-call
 * overhead, which was most of the old hash cost.
 */
export function putContentVersion(b: Buffer, start: number, end: number, out: Buffer, at: number): void {
  const hex = crypto.hash('sha256', b.subarray(start, end), 'hex');
  for (let i = 0; i < VERSION_LEN; i++) out[at + i] = hex.charCodeAt(i);
}

/** A frame in the encoder's scratch buffer: valid until the encoder's next call. */
export interface ScratchFrame {
  readonly bytes: Buffer;
  readonly nameLen: number;
  /** Offset just past Resource.version's bytes. */
  readonly versionEnd: number;
}

/**
 * Encodes Resource{version, resource: Any{type_url, value}, name} as a
 * DeltaDiscoveryResponse field-2 frame (encodeResourceFrame's layout) straight
 * from a message object: sizes first, then one pass writing the frame header,
 * the Resource and Any headers, the message itself and the name into one
 * reused buffer; the version (fixed length) is filled in last from the
 * message bytes already in place. Nothing is copied until the caller keeps
 * the frame.
 */
export class ResourceFrameEncoder<T> {
  private scratch = Buffer.allocUnsafeSlow(64 * 1024);
  private readonly typeUrl: Buffer;

  constructor(typeUrl: string, private readonly codec: MessageCodec<T>) {
    this.typeUrl = Buffer.from(typeUrl, 'utf8');
  }

  encode(name: string, msg: T): ScratchFrame {
    const codec = this.codec;
    const msgLen = codec.size(msg);
    const nameLen = utf8Size(name);
    const typeLen = this.typeUrl.length;
    const anyLen = 1 + varintSize(typeLen) + typeLen + 1 + varintSize(msgLen) + msgLen;
    const resLen = 2 + VERSION_LEN + 1 + varintSize(anyLen) + anyLen + 1 + varintSize(nameLen) + nameLen;
    const total = 1 + varintSize(resLen) + resLen;
    if (total > this.scratch.length) this.scratch = Buffer.allocUnsafeSlow(Math.max(total, 2 * this.scratch.length));
    const b = this.scratch;
    b[0] = 0x12; // DeltaDiscoveryResponse.resources
    let at = putVarint(b, 1, resLen);
    b[at++] = 0x0a; // Resource.version
    b[at++] = VERSION_LEN;
    const versionAt = at;
    at += VERSION_LEN;
    b[at++] = 0x12; // Resource.resource (Any)
    at = putVarint(b, at, anyLen);
    b[at++] = 0x0a; // Any.type_url
    at = putVarint(b, at, typeLen);
    at += this.typeUrl.copy(b, at);
    b[at++] = 0x12; // Any.value
    at = putVarint(b, at, msgLen);
    const msgAt = at;
    at = codec.write(msg, b, at);
    if (at - msgAt !== msgLen) throw new Error(`encoder size mismatch: sized ${msgLen}, wrote ${at - msgAt}`);
    putContentVersion(b, msgAt, at, b, versionAt);
    b[at++] = 0x1a; // Resource.name
    at = putString(b, putVarint(b, at, nameLen), name, nameLen);
    return { bytes: b.subarray(0, at), nameLen, versionEnd: versionAt + VERSION_LEN };
  }
}

/** The message bytes alone (tests, and callers that need a message outside a frame). */
export function encodeMessage<T>(codec: MessageCodec<T>, msg: T): Buffer {
  const n = codec.size(msg);
  const b = Buffer.allocUnsafe(n);
  codec.write(msg, b, 0);
  return b;
}

/** Generated codecs by type URL (type.googleapis.com/<full name>); undefined for types without one. */
export function codecForTypeUrl(typeUrl: string): MessageCodec<object> | undefined {
  const full = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  return full in CODECS ? CODECS[full as keyof typeof CODECS] : undefined;
}
