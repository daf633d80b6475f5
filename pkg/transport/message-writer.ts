import type * as http2 from 'node:http2';
import type { ChunkPool } from './chunk-pool';
import { partBytes, type FramePart } from '../wire';

/** A gRPC Length-Prefixed-Message's prefix: 1 byte compressed flag, 4 bytes big-endian length. */
export const GRPC_PREFIX_BYTES = 5;

/** Up to this many parts are written as they are (corked); more are joined into chunks. */
const FEW_PARTS = 4;

/**
 * A message of at most this many bytes (and few parts) is copied with its prefix into one
 * buffer and written once: a fan-out's per-stream response (shared body + nonce, ~300 B) then
 * costs one Writable write instead of three corked ones and a writev. Measured together with
 * the fan-out memo's keying (not isolated): the xds bench's fanout_marginal_vs_floor went from
 * 1.25x to 1.10x of the bare node:http2 floor, pinned, on a loaded machine (bench/results/xds.json).
 */
export const SMALL_MESSAGE = 4096;

export interface MessageWriterOptions {
  stream: http2.ServerHttp2Stream;
  /** Chunks a many-part message is copied into, one at a time. */
  pool: ChunkPool;
  /** The call has finished: writes complete at once without sending. */
  stopped: () => boolean;
}

/**
 * The sending half of a gRPC call (the counterpart of MessageReader): Length-Prefixed-Messages written to
 * one HTTP/2 stream, one message at a time.
 */
export class MessageWriter {
  /** A chunked message is being written; later writes wait here (bounded by the caller: one response in flight). */
  private chunking = false;
  private waitingWrites: { msg: Buffer | readonly FramePart[]; cb?: () => void; framed?: boolean }[] = [];

  constructor(private readonly o: MessageWriterOptions) {}

  /**
   * Writes one response message; `cb` fires when HTTP/2 has taken it
   * (backpressure). A message may be given as parts, written back to back
   * without copying what need not be copied:
   * - a few parts (a fan-out body shared by every stream, then this stream's
   *   nonce) go out as one corked write of the 5-byte prefix and the parts;
   * - many parts (a full sync: a head, then one frame per resource, shared
   *   with the cache) are copied into chunks taken from the server's pool,
   *   and each chunk is filled only once the previous one has been taken — a
   *   100 MB first sync holds one chunk per stream, not a 100 MB buffer, and
   *   leaves no garbage behind (the chunk goes back to the pool).
   * Messages never interleave: a write issued while a chunked one is under
   * way waits for it.
   */
  write(msg: Buffer | readonly FramePart[], cb?: () => void): void {
    if (this.o.stopped()) {
      cb?.();
      return;
    }
    if (this.chunking) {
      this.waitingWrites.push({ msg, cb });
      return;
    }
    const parts = Buffer.isBuffer(msg) ? [msg] : msg;
    let len = 0;
    for (const p of parts) len += p.length;
    const done = cb ? () => cb() : undefined;
    const stream = this.o.stream;
    if (len <= SMALL_MESSAGE && parts.length <= FEW_PARTS) {
      // One write of prefix + parts copied together: one pass through the Writable and
      // one HTTP/2 DATA frame, instead of a corked writev of 2-5 chunks per stream.
      const buf = Buffer.allocUnsafe(5 + len);
      buf[0] = 0;
      buf.writeUInt32BE(len, 1);
      let at = 5;
      for (let i = 0; i < parts.length; i++) at += parts[i]!.copy(buf, at);
      stream.write(buf, done);
      return;
    }
    const prefix = Buffer.allocUnsafe(5);
    prefix[0] = 0;
    prefix.writeUInt32BE(len, 1);
    if (parts.length <= FEW_PARTS) {
      stream.cork();
      stream.write(prefix);
      for (let i = 0; i < parts.length; i++)
        stream.write(partBytes(parts[i]!), i === parts.length - 1 ? done : undefined);
      stream.uncork();
      return;
    }
    this.chunking = true;
    stream.write(prefix);
    const pool = this.o.pool;
    let i = 0;
    const last = (): void => {
      this.chunking = false;
      done?.();
      const queued = this.waitingWrites.splice(0);
      for (const w of queued) {
        if (w.framed) this.writeFramed(w.msg as Buffer, w.cb);
        else this.write(w.msg, w.cb);
      }
    };
    const next = (): void => {
      if (stream.destroyed || this.o.stopped()) {
        this.chunking = false;
        done?.();
        return;
      }
      const { chunk, pooled } = this.fill(parts, i, pool);
      i = chunk.end;
      const after = i < parts.length ? next : last;
      stream.write(chunk.bytes, (err?: Error | null) => {
        // Back to the pool only once HTTP/2 is done with it; after an error the stream was torn
        // down with the write possibly still referenced, so that chunk is left to the GC.
        if (pooled && !err) pool.give(pooled);
        after();
      });
    };
    next();
  }

  /**
   * Writes one message built with GRPC_PREFIX_BYTES reserved in front of it (`frame` = room for the prefix, then
   * the message): the prefix is filled in place and the buffer handed to HTTP/2 as it is — one Writable write, no
   * copy, no allocation here. A fan-out's per-stream response (shared body + this stream's nonce) is built that way.
   * The buffer belongs to the transport from now on. Same order and `cb` semantics as write().
   */
  writeFramed(frame: Buffer, cb?: () => void): void {
    if (this.o.stopped()) {
      cb?.();
      return;
    }
    if (this.chunking) {
      this.waitingWrites.push({ msg: frame, cb, framed: true });
      return;
    }
    frame[0] = 0;
    frame.writeUInt32BE(frame.length - GRPC_PREFIX_BYTES, 1);
    this.o.stream.write(frame, cb);
  }

  /**
   * The next chunk of `parts` from index `start`: pooled and copied into, or one part as is when it alone fills a
   * chunk.
   */
  private fill(
    parts: readonly FramePart[],
    start: number,
    pool: ChunkPool,
  ): { chunk: { bytes: Buffer; end: number }; pooled?: Buffer } {
    let i = start;
    let bytes = 0;
    while (i < parts.length && bytes + parts[i]!.length <= pool.size) bytes += parts[i++]!.length;
    if (i - start <= 1) return { chunk: { bytes: partBytes(parts[start]!), end: start + 1 } };
    const buf = pool.take();
    let off = 0;
    for (let k = start; k < i; k++) off += parts[k]!.copy(buf, off);
    return { chunk: { bytes: buf.subarray(0, off), end: i }, pooled: buf };
  }
}
