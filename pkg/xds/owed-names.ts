import { utf8 } from './name-shard';

/** One run of owed names: their UTF-8 bytes back to back and where each ends. */
interface Chunk {
  bytes: Buffer;
  ends: Int32Array;
  /** Names written. */
  n: number;
  /** Names taken. */
  at: number;
}

const MIN_CHUNK_BYTES = 256;
const MAX_CHUNK_BYTES = 64 * 1024;
const STAR = 0x2a;

/**
 * Names a stream owes an answer for (docs/design/delta-xds-rules.md rule 9: every subscribed name, even a
 * repeated one), in the order subscribed; a name listed twice is answered twice at worst (within one response it
 * is answered once: the response deduplicates). "*" entries are counted and consumed, but not handed on.
 *
 * Held as UTF-8 bytes in chunks (no JS object per name; strings are made only for the names of one response,
 * when taken): a client that subscribes without reading its responses may be owed up to the name cap, and as
 * strings those survived every scavenge and were marked by every mark-compact (see name-shard.ts). Chunks grow
 * from 256 bytes to 64 KiB as more is owed and are dropped once taken. Written only by its stream.
 */
export class OwedNames {
  private chunks: Chunk[] = [];
  private count = 0;

  /** Entries not yet taken (repeats and "*" included). */
  get size(): number {
    return this.count;
  }

  /** Records a request's list (strings, copied as bytes). */
  push(list: readonly string[]): void {
    for (let i = 0; i < list.length; i++) {
      const end = utf8.encode(list[i]!); // first: it may replace utf8.buf
      this.pushBytes(utf8.buf, 0, end);
    }
  }

  /** Records one entry given as UTF-8 bytes b[s, e) (copied). */
  pushBytes(b: Uint8Array, s: number, e: number): void {
    let c = this.chunks[this.chunks.length - 1];
    const top = c && c.n > 0 ? c.ends[c.n - 1]! : 0;
    if (!c || c.n === c.ends.length || top + (e - s) > c.bytes.length) {
      const want = Math.min(MAX_CHUNK_BYTES, Math.max(MIN_CHUNK_BYTES, 2 * (c?.bytes.length ?? 0)));
      const size = Math.max(want, e - s);
      c = { bytes: Buffer.allocUnsafe(size), ends: new Int32Array(Math.max(16, size >> 3)), n: 0, at: 0 };
      this.chunks.push(c);
      return void this.write(c, 0, b, s, e);
    }
    this.write(c, top, b, s, e);
  }

  private write(c: Chunk, top: number, b: Uint8Array, s: number, e: number): void {
    c.bytes.set(b.subarray(s, e), top);
    c.ends[c.n++] = top + (e - s);
    this.count++;
  }

  clear(): void {
    this.chunks = [];
    this.count = 0;
  }

  /** Hands up to `max` entries, oldest first, to `fn` (one string each, made now; "*" is consumed, not handed on). */
  take(max: number, fn: (name: string) => void): void {
    let left = max;
    while (left > 0 && this.count > 0) {
      const c = this.chunks[0]!;
      const end = Math.min(c.n, c.at + left);
      for (let i = c.at; i < end; i++) {
        const s = i === 0 ? 0 : c.ends[i - 1]!;
        const e = c.ends[i]!;
        if (e - s !== 1 || c.bytes[s] !== STAR) fn(c.bytes.toString('utf8', s, e));
      }
      left -= end - c.at;
      this.count -= end - c.at;
      c.at = end;
      if (c.at === c.n && (this.chunks.length > 1 || c.n === c.ends.length)) this.chunks.shift();
    }
    if (this.count === 0) this.chunks = [];
  }
}
