import * as crypto from 'node:crypto';
import { CODECS, type MessageCodec } from './generated';
import { FNV_BASIS, FNV_PRIME, NAME_HASH_MASK, nameHash } from './name-hash';
import { NameMarks, putBytesBack, putUtf8Back, putVarintBack } from './pb-writer';

/** Hex digits of a content version (contentVersion's length). */
export const VERSION_LEN = 16;

/**
 * Writes the content version of a resource at out[at] as 16 hex digits: the
 * first 8 bytes of the SHA-256 of b[start, end), which must be the resource's
 * Any.value field followed by its Resource.name field (tag, length and bytes
 * of each), as they sit at the end of its frame (encodeResourceFrame's layout).
 *
 * Why the name is covered: no two names of a type then share a version, so
 * the reconnect digest (SetDigest) hashes a client's versions alone, not its
 * names (docs/design/reconnect-storm-cpu.md). Both fields carry their length,
 * so (body, name) pairs never hash the same bytes. The type URL is left out:
 * versions are only ever compared within one type (a client lists its
 * versions per type, the cache keeps a table per type). Versions made before
 * the name was covered (the body's hash alone) differ from these, so a client
 * is sent each resource once after the upgrade, and the versions it lists
 * from then on match.
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
  // A plain Uint8Array view: Buffer#subarray costs ~25 ns more per call (measured, node 20).
  const hex = crypto.hash('sha256', new Uint8Array(b.buffer, b.byteOffset + start, end - start), 'hex');
  for (let i = 0; i < VERSION_LEN; i++) out[at + i] = hex.charCodeAt(i);
}

/** A frame in the encoder's scratch buffer: valid until the encoder's next call. */
export interface ScratchFrame {
  readonly bytes: Buffer;
  readonly nameLen: number;
  /** Offset just past Resource.version's bytes. */
  readonly versionEnd: number;
  /** Offsets of up to two copies of the name inside the resource (name fields), -1 = none; hole1 < hole2. */
  readonly hole1: number;
  readonly hole2: number;
  /** nameHash of the name. */
  readonly nameHash: number;
}

/**
 * Encodes Resource{version, resource: Any{type_url, value}, name} as a
 * DeltaDiscoveryResponse field-2 frame (encodeResourceFrame's layout) straight
 * from a message object, backwards (pb-writer.ts): the name, the message, the
 * Any and Resource headers, each length written when the bytes it counts are
 * in place; the version (fixed length) is filled in last from the message
 * bytes. writeFrame writes into the caller's buffer (e.g. where the frame is
 * kept: no copy at all); encode into one reused scratch buffer. While writing
 * the message, the generated writer marks where it put copies of the name
 * (NameMarks), so the cache can pack them out without searching.
 */
export class ResourceFrameEncoder<T> {
  private scratch = Buffer.allocUnsafeSlow(64 * 1024);
  /** Any.type_url's tag, length and bytes. */
  private readonly typeUrlField: Buffer;
  private readonly marks = new NameMarks();
  /** The last frame writeFrame wrote, offsets relative to its start: see ScratchFrame. */
  nameLen = 0;
  versionEnd = 0;
  hole1 = -1;
  hole2 = -1;
  nameHash = 0;

  constructor(
    typeUrl: string,
    private readonly codec: MessageCodec<T>,
  ) {
    const url = Buffer.from(typeUrl, 'utf8');
    const field = Buffer.alloc(url.length + 6); // tag (1) + length (≤ 5) + bytes
    const start = putBytesBack(field, field.length, url) - 1;
    field[start] = 0x0a; // Any.type_url
    this.typeUrlField = field.subarray(start);
  }

  /** Reads msg's fields without writing (MessageCodec.touch): a batch touched first has its cache misses overlap. */
  touch(msg: T): number {
    return this.codec.touch(msg);
  }

  /**
   * Writes the frame so it ends at b[end] and returns where it starts, its layout in this encoder's fields
   * (nameLen, versionEnd, hole1, hole2) and its name's hash (nameHash). A negative start means b was too small
   * (nothing at or above `end` is touched; bytes below it may be): retry with more room.
   */
  writeFrame(name: string, msg: T, b: Buffer, end: number): number {
    let at = this.putName(b, end, name);
    const nameLen = end - at;
    at = putVarintBack(b, at, nameLen);
    b[--at] = 0x1a; // Resource.name
    const msgEnd = at;
    const marks = this.marks;
    marks.reset(name);
    at = this.writeHead(b, this.codec.writeBack(msg, b, msgEnd, marks), msgEnd, end);
    if (at < 0) return at;
    this.nameLen = nameLen;
    this.hole1 = marks.first < 0 ? -1 : marks.first - at;
    this.hole2 = marks.second < 0 ? -1 : marks.second - at;
    return at;
  }

  /**
   * Writes the frame's head before a message already at b[msgStart, msgEnd), which Resource.name's field follows up
   * to b[end]: the Any.value and Any headers, the type URL, the version (the content hash, putContentVersion) and the
   * frame's tag and length. Returns where the frame starts and sets versionEnd; a negative start means b was too
   * small (no version written). writeFrame writes the message and the name first; a caller holding both already
   * (bench/lib/encoded-entries.ts) frames them where they lie.
   */
  writeHead(b: Buffer, msgStart: number, msgEnd: number, end: number): number {
    let at = putVarintBack(b, msgStart, msgEnd - msgStart);
    b[--at] = 0x12; // Any.value
    const covered = at; // the version covers Any.value's field and Resource.name's (putContentVersion)
    const t = this.typeUrlField;
    at -= t.length;
    if (at >= 0) b.set(t, at);
    at = putVarintBack(b, at, msgEnd - at);
    b[--at] = 0x12; // Resource.resource (Any)
    at -= VERSION_LEN;
    const versionAt = at;
    b[--at] = VERSION_LEN;
    b[--at] = 0x0a; // Resource.version
    at = putVarintBack(b, at, end - at);
    b[--at] = 0x12; // DeltaDiscoveryResponse.resources
    if (at < 0) return at;
    putContentVersion(b, covered, end, b, versionAt);
    this.versionEnd = versionAt + VERSION_LEN - at;
    return at;
  }

  /**
   * putUtf8Back of the name, setting this.nameHash from the same pass over an ASCII name's characters (the hash's
   * multiply beside each byte written; a separate pass was ~8 % of serving one change: docs/design/serve-one.md).
   */
  private putName(b: Buffer, end: number, name: string): number {
    const n = name.length;
    const start = end - n;
    let h = FNV_BASIS;
    for (let i = 0; i < n; i++) {
      const c = name.charCodeAt(i);
      if (c >= 0x80) {
        const at = putUtf8Back(b, end, name);
        if (at >= 0) this.nameHash = nameHash(b, at, end);
        return at;
      }
      b[start + i] = c;
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    this.nameHash = h & NAME_HASH_MASK;
    return start;
  }

  encode(name: string, msg: T): ScratchFrame {
    for (;;) {
      const b = this.scratch;
      const end = b.length;
      const at = this.writeFrame(name, msg, b, end);
      if (at < 0) {
        this.scratch = Buffer.allocUnsafeSlow(2 * (end - at));
        continue;
      }
      const { nameLen, versionEnd, hole1, hole2, nameHash } = this;
      return { bytes: b.subarray(at, end), nameLen, versionEnd, hole1, hole2, nameHash };
    }
  }
}

let scratch = Buffer.allocUnsafeSlow(64 * 1024);

/** The message bytes alone (tests, and callers that need a message outside a frame). */
export function encodeMessage<T>(codec: MessageCodec<T>, msg: T): Buffer {
  for (;;) {
    const end = scratch.length;
    const start = codec.writeBack(msg, scratch, end);
    if (start >= 0) return Buffer.from(scratch.subarray(start, end));
    scratch = Buffer.allocUnsafeSlow(2 * (end - start));
  }
}

/** Generated codecs by type URL (type.googleapis.com/<full name>); undefined for types without one. */
export function codecForTypeUrl(typeUrl: string): MessageCodec<object> | undefined {
  const full = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  return full in CODECS ? CODECS[full as keyof typeof CODECS] : undefined;
}
