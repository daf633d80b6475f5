import { encodeDeltaResponseBody, nonceField, type FramePart } from '../wire';
import type { CacheEntry, ResourceCache } from './cache';

/**
 * Above this many bytes of resources a shared body stays a list of parts (its head, then
 * the cache's own frames) instead of one joined buffer. A stream catching up after a
 * burst gets a body close to the whole table (~100 MB at 2,000 peers); joined, each was
 * a fresh buffer that outlived its write as garbage until V8's next major GC (the mesh
 * bench saw ~570 MiB of it 35 s after the first sync). As parts, the transport copies
 * them into its reused chunks. Below it, one buffer lets every stream of a fan-out
 * write [body, nonce] without a copy.
 */
const JOIN_MAX = 64 * 1024;

/** One encoded response body (everything but the nonce) and what the sender records about it. */
export interface SharedResponse {
  /** DeltaDiscoveryResponse fields except nonce, as parts sent back to back; none when there is nothing to send. */
  readonly body: readonly FramePart[];
  readonly empty: boolean;
  readonly commitAt?: number;
  readonly originAt?: number;
}

/**
 * Fan-out memo. A wildcard stream with no pending per-stream work (no forced
 * names, no unsubscribe notices, no held-name tracking) that has sent up to
 * sequence S receives exactly "every name of this type changed after S, as of
 * the current sequence" — the same bytes for every such stream. At one change
 * to N caught-up streams that is one build + one encode instead of N; each
 * stream only appends its nonce (rule 16 in docs/design/delta-xds-rules.md: unique per stream).
 *
 * Valid for one cache sequence number: the first lookup after a commit drops
 * everything. Bounded: streams can only differ in S, and we keep at most
 * `maxEntries` distinct (type, S) pairs (further ones are built per stream).
 *
 * Large bodies (parts, above JOIN_MAX) are kept only while a fan-out pass runs
 * (`hold()` … `release()`): a stream catching up after a burst gets a body
 * close to the whole table (~80 MB at 200k workloads), and a memo that waited
 * for the next commit held it through an idle mesh — the largest single block
 * of the daemon's retained memory at 2,000 peers (heap snapshot). Small bodies
 * are kept until the next commit as before: streams that were still waiting
 * for an ACK during the pass flush when it arrives, mostly from the same
 * cursor, and share the body then instead of each building its own.
 */
export class SharedResponses {
  private seq = -1;
  /** type URL -> cursor -> response (no per-lookup key string: one lookup per stream per push). */
  private readonly memo = new Map<string, Map<number, SharedResponse>>();
  private entries = 0;
  private holding = false;

  constructor(
    private readonly cache: ResourceCache,
    private readonly maxEntries = 64,
  ) {}

  /**
   * The shared response for wildcard streams of `typeUrl` that sent up to `since`; undefined = the cursor fell off the
   * log.
   */
  get(typeUrl: string, since: number): SharedResponse | undefined {
    const cache = this.cache;
    if (cache.seq !== this.seq) {
      this.memo.clear();
      this.entries = 0;
      this.seq = cache.seq;
    }
    let byType = this.memo.get(typeUrl);
    const hit = byType?.get(since);
    if (hit) return hit;
    // The log since the cursor, as a caught-up wildcard stream's own response reads it: one record per live name,
    // and a name removed twice in one commit (removed, re-added, removed) listed once (rule 15).
    const frames: CacheEntry[] = [];
    const removed: string[] = [];
    if (!cache.collectChangedSince(typeUrl, since, frames, removed)) return undefined;
    const empty = frames.length === 0 && removed.length === 0;
    let bytes = 0;
    for (const f of frames) bytes += f.length;
    const parts = { typeUrl, systemVersionInfo: String(cache.seq), removed };
    const r: SharedResponse = {
      body: empty
        ? EMPTY
        : bytes <= JOIN_MAX
          ? [encodeDeltaResponseBody({ ...parts, frames })]
          : [encodeDeltaResponseBody({ ...parts, frames: [] }), ...frames],
      empty,
      commitAt: empty ? undefined : cache.oldestCommitAfter(since)?.at,
      originAt: empty ? undefined : cache.earliestOriginAfter(since),
    };
    if ((this.holding || bytes <= JOIN_MAX) && this.entries < this.maxEntries) {
      if (!byType) this.memo.set(typeUrl, (byType = new Map<number, SharedResponse>()));
      byType.set(since, r);
      this.entries++;
    }
    return r;
  }

  /** A fan-out pass begins: responses built from now on are shared by the streams it visits. */
  hold(): void {
    this.holding = true;
  }

  /** The pass ended: drop the large bodies (small ones stay until the next commit). */
  release(): void {
    this.holding = false;
    for (const byType of this.memo.values()) {
      for (const [k, r] of byType) {
        if (r.body.length > 1) {
          byType.delete(k);
          this.entries--;
        }
      }
    }
  }

  /** Bodies kept now (for tests and the debug view). */
  get size(): number {
    return this.entries;
  }
}

const EMPTY: readonly FramePart[] = Object.freeze([]);

/**
 * One stream's fan-out response as a single buffer: `headroom` bytes left for the transport's frame prefix, the
 * shared body, then this stream's nonce as DeltaDiscoveryResponse field 5 (tag 0x2a, one length byte: nonces are
 * "<stream id>-<counter>", ASCII and far below 128 bytes; longer ones take the general encoder). Field order does
 * not matter to a protobuf parser, and the body carries no nonce, so body + field 5 is the whole message.
 */
export function sharedFrame(body: Buffer, nonce: string, headroom: number): Buffer {
  const n = nonce.length;
  if (n > 127) return sharedFrameSlow(body, nonce, headroom);
  const out = Buffer.allocUnsafe(headroom + body.length + 2 + n);
  let at = headroom + body.copy(out, headroom);
  out[at++] = 0x2a;
  out[at++] = n;
  // ASCII by construction (digits and '-'); a non-ASCII character would still be written as its UTF-8 bytes.
  for (let i = 0; i < n; i++) {
    const c = nonce.charCodeAt(i);
    if (c > 0x7f) return sharedFrameSlow(body, nonce, headroom);
    out[at++] = c;
  }
  return out;
}

function sharedFrameSlow(body: Buffer, nonce: string, headroom: number): Buffer {
  const field = nonceField(nonce);
  const out = Buffer.allocUnsafe(headroom + body.length + field.length);
  body.copy(out, headroom);
  field.copy(out, headroom + body.length);
  return out;
}

/** What the fan-out loop needs from a stream. */
export interface Flushable {
  /** False until the stream's first request named a type: such a stream has nothing a commit could send. */
  readonly subscribed: boolean;
  flush(): void;
}

/** Called around each fan-out pass (the shared-response memo lives exactly that long). */
export interface PassHooks {
  begin(): void;
  end(): void;
}

/**
 * Writes one commit to every stream in batches of `batch`, one batch per
 * event-loop turn. Why batches: node:http2 hands a session's queued frames to
 * the socket only on a later turn, so a single loop over N streams sends
 * nothing until all N responses are built; with batches the first streams'
 * bytes leave (and the clients start decoding, on the other core) while later
 * batches are still being built. One pass at a time: a commit that lands
 * mid-pass asks for another pass (streams already flushed in this pass pick it
 * up then; later ones see it in this pass already).
 */
export class FanOut {
  private running = false;
  private again = false;
  private closed = false;

  constructor(
    private readonly streams: () => Iterable<Flushable>,
    private readonly batch = 32,
    private readonly hooks?: PassHooks,
  ) {}

  trigger(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    // Streams that never asked for a type are left out, so they take no place in a batch: 1,600 authenticated
    // streams that sent only headers (issue 18's header flood) would otherwise push the ztunnels behind them 50
    // turns back. Such a stream's first request schedules its own flush.
    const list: Flushable[] = [];
    for (const s of this.streams()) if (s.subscribed) list.push(s);
    let i = 0;
    const step = (): void => {
      if (this.closed) return this.hooks?.end();
      if (i === 0) this.hooks?.begin();
      const end = Math.min(i + this.batch, list.length);
      for (; i < end; i++) list[i]!.flush();
      if (i < list.length) {
        setImmediate(step);
        return;
      }
      this.running = false;
      this.hooks?.end();
      if (this.again) {
        this.again = false;
        this.trigger();
      }
    };
    setImmediate(step);
  }

  close(): void {
    this.closed = true;
  }
}
