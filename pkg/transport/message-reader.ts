import type { MessageLease, ReceivePool } from './receive-pool';

/**
 * Reassembles gRPC Length-Prefixed-Messages (1 byte compressed flag, 4 bytes
 * big-endian length, message; grpc/grpc doc/PROTOCOL-HTTP2.md) from HTTP/2 DATA chunks.
 * A large message arrives in many 16 KB chunks: they are collected in a list
 * and joined once when the message is complete — re-concatenating per chunk
 * is quadratic (a 2.4 MB reconnect request would copy ~180 MB). Shared by the
 * server's calls, the peer client, and the benchmark's simulated clients.
 * Given a ReceivePool, a message that spans chunks is joined into a pooled
 * buffer, delivered with the lease its consumer releases (receive-pool.ts).
 */
export interface MessageReaderHandlers {
  /** Every message prefix, before its body is collected; false = stop reading (the caller ended the call). */
  check(compressed: boolean, length: number): boolean;
  /**
   * One complete message (a view into the received bytes). With a pool, `lease` is set when the bytes are
   * a pooled buffer: the consumer releases it once nothing reads them any more (a missed release only
   * costs a GC). Without one the bytes are the consumer's.
   */
  message(msg: Buffer, lease?: MessageLease): void;
  /** An incomplete message of `total` bytes (prefix included) starts being collected. */
  collecting?(total: number): void;
  /** Bytes of the incomplete message collected so far (prefix included), after each chunk. */
  progress?(have: number): void;
  /** The bytes being collected were joined (the message, or its prefix, is complete). */
  joined?(): void;
  /**
   * With a pool: whether the message being collected may be copied into a pooled buffer (of its full
   * length) before it is complete, e.g. because the receive budget reserved its bytes. Without this
   * handler it always may.
   */
  mayFill?(): boolean;
}

export class MessageReader {
  private parts: Buffer[] = [];
  private have = 0;
  /** Bytes the collected parts must reach before anything can be read (5 = just the prefix). */
  private need = 0;
  private stopped = false;
  /**
   * The pooled buffer the message being collected is copied into as it arrives (parts is then empty):
   * its DATA chunks are dropped at once instead of being held until the message is complete. Held
   * for a whole message (~100 ms in a storm), they outlived V8's young generation, were promoted,
   * and only a Mark-Compact of the whole heap freed them (docs/design/reconnect-storm-cpu.md).
   */
  private into: { buf: Buffer; lease: MessageLease } | undefined;

  constructor(
    private readonly h: MessageReaderHandlers,
    private readonly pool?: ReceivePool,
  ) {}

  push(chunk: Buffer): void {
    if (this.stopped) return;
    if (this.into) {
      const into = this.into;
      const want = this.need - this.have;
      if (chunk.length < want) {
        chunk.copy(into.buf, this.have - 5);
        this.have += chunk.length;
        this.h.progress?.(this.have);
        return;
      }
      chunk.copy(into.buf, this.have - 5, 0, want);
      this.into = undefined;
      this.have = 0;
      this.h.joined?.();
      this.h.message(into.buf.subarray(0, this.need - 5), into.lease);
      if (this.stopped) return;
      chunk = chunk.subarray(want);
    } else if (this.parts.length > 0) {
      this.parts.push(chunk);
      this.have += chunk.length;
      if (this.have < this.need) {
        if (this.need > 5) {
          this.h.progress?.(this.have);
          if (!this.stopped && this.pool && (this.h.mayFill?.() ?? true)) this.startFilling();
        }
        return;
      }
      const pooled = this.need > 5 ? this.pool?.take(this.need - 5) : undefined;
      if (pooled) {
        chunk = this.joinInto(pooled.buf, chunk);
        this.h.joined?.();
        this.h.message(pooled.buf.subarray(0, this.need - 5), pooled.lease);
        if (this.stopped) return;
      } else {
        chunk = Buffer.concat(this.parts, this.have);
        this.parts = [];
        this.have = 0;
        this.h.joined?.();
      }
    }
    let buf = chunk;
    while (buf.length >= 5) {
      const len = buf.readUInt32BE(1);
      if (!this.h.check(buf[0] !== 0, len)) {
        this.stop();
        return;
      }
      if (buf.length < 5 + len) break;
      const msg = buf.subarray(5, 5 + len);
      buf = buf.subarray(5 + len);
      this.h.message(msg);
      if (this.stopped) return;
    }
    if (buf.length > 0) {
      this.parts = [buf];
      this.have = buf.length;
      this.need = buf.length >= 5 ? 5 + buf.readUInt32BE(1) : 5;
      if (buf.length >= 5) {
        this.h.collecting?.(this.need);
        if (!this.stopped) this.h.progress?.(this.have);
      }
    }
  }

  /**
   * Copies the collected message's body (its prefix already checked) into `into`; returns what of the
   * last chunk follows it (a view of that chunk, never of `into`, which the consumer may hand back).
   */
  private joinInto(into: Buffer, last: Buffer): Buffer {
    const parts = this.parts;
    let skip = 5;
    let at = 0;
    for (let i = 0; i < parts.length - 1; i++) {
      const p = parts[i]!;
      if (skip >= p.length) skip -= p.length;
      else {
        at += p.copy(into, at, skip);
        skip = 0;
      }
    }
    // The message ends in the last chunk: all before it held less than `need`.
    const end = last.length - (this.have - this.need);
    last.copy(into, at, skip, end);
    this.parts = [];
    this.have = 0;
    return last.subarray(end);
  }

  /** Copies what was collected of an incomplete message into a pooled buffer, if one of its size is pooled. */
  private startFilling(): void {
    const pooled = this.pool!.take(this.need - 5);
    if (!pooled) return;
    let skip = 5;
    let at = 0;
    for (const p of this.parts) {
      if (skip >= p.length) skip -= p.length;
      else {
        at += p.copy(pooled.buf, at, skip);
        skip = 0;
      }
    }
    this.parts = [];
    this.into = pooled;
  }

  /** Reads nothing more (what was collected is dropped). */
  stop(): void {
    this.stopped = true;
    this.parts = [];
    this.have = 0;
    this.into?.lease.release();
    this.into = undefined;
  }
}
