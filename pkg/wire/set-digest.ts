/**
 * An order-independent 64-bit digest of a set of resource versions: two 32-bit
 * lanes, each the sum mod 2^32 of a per-version hash (two different
 * word-at-a-time mixing steps over the version's bytes, seeded with its length,
 * finished with murmur3's fmix32). Sums, not XOR, so a version listed twice
 * does not cancel out. Why: a reconnect storm after a daemon restart is
 * thousands of ztunnels each listing ~50k names whose versions are all
 * current; equal digests and equal counts let the cache answer "nothing
 * changed" from one sequential pass over the request instead of 50k random
 * lookups. A digest mismatch falls back to the exact per-name match, so the
 * digest only ever shortcuts the all-equal case.
 *
 * Only versions are hashed, not names: a version is a content hash that covers
 * its resource's name (pkg/wire/resource-encoder.ts putContentVersion), so no
 * two names of a type share a version, and a client that holds each version it
 * lists under the name it was sent with holds exactly the current set when its
 * versions are the current ones. A false match needs a 64-bit collision (of
 * the digest, or of two versions). Reading the 16-byte version alone is about
 * a third of the bytes of name and version (docs/design/reconnect-storm-cpu.md).
 */
export class SetDigest {
  a = 0;
  b = 0;

  /** Adds (sign 1) or removes (sign -1) the version b[vs, ve), read with byte loads (one at a time: the cache). */
  addBytes(sign: 1 | -1, b: Uint8Array, vs: number, ve: number): void {
    const n = ve - vs;
    let h1 = 0x811c9dc5 ^ n;
    let h2 = 0x2545f491 ^ n;
    let i = vs;
    for (; i + 4 <= ve; i += 4) {
      const w = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
      h1 = lane1(h1, w);
      h2 = lane2(h2, w);
    }
    if (i < ve) {
      let t = 0;
      for (let s = 0; i < ve; i++, s += 8) t |= b[i]! << s;
      h1 = lane1(h1, t);
      h2 = lane2(h2, t);
    }
    this.a = (this.a + sign * fmix32(h1)) >>> 0;
    this.b = (this.b + sign * fmix32(h2)) >>> 0;
  }

  /** Adds (sign 1) or removes (sign -1) one version. */
  addVersion(version: string, sign: 1 | -1 = 1): void {
    const vb = Buffer.from(version, 'utf8');
    this.addBytes(sign, vb, 0, vb.length);
  }

  /**
   * addBytes's function over the version bytes [vs, ve) of a DataView (a whole request: the decoder; a cache entry's
   * store), added (sign 1) or removed (sign -1). One little-endian load per four bytes costs about half of four
   * byte loads from a Uint8Array (measured on 1 MB of 96-byte entries).
   */
  addView(v: DataView, vs: number, ve: number, sign: 1 | -1 = 1): void {
    // The length seeds both lanes, so "ab" != "ab\0" although the 0-3 tail bytes are read as one zero-padded word.
    const n = ve - vs;
    let h1 = 0x811c9dc5 ^ n;
    let h2 = 0x2545f491 ^ n;
    let i = vs;
    for (; i + 4 <= ve; i += 4) {
      const w = v.getInt32(i, true);
      h1 = lane1(h1, w);
      h2 = lane2(h2, w);
    }
    if (i < ve) {
      let t = 0;
      for (let s = 0; i < ve; i++, s += 8) t |= v.getUint8(i) << s;
      h1 = lane1(h1, t);
      h2 = lane2(h2, t);
    }
    this.a = (this.a + sign * fmix32(h1)) >>> 0;
    this.b = (this.b + sign * fmix32(h2)) >>> 0;
  }

  equals(o: SetDigest): boolean {
    return this.a === o.a && this.b === o.b;
  }
}

/** One step of murmur3_32's body (Appleby's MurmurHash3, public domain): mixes the 32-bit word w into h. */
function lane1(h: number, w: number): number {
  let k = Math.imul(w, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** The second lane: a multiply-xorshift step with murmur2's constant, independent of lane1. */
function lane2(h: number, w: number): number {
  h = Math.imul(h ^ w, 0x5bd1e995);
  return h ^ (h >>> 15);
}

/** A DataView over exactly the bytes of b (offsets into b are offsets into the view). */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
