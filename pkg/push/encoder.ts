import { codecForTypeUrl, ResourceFrameEncoder, TYPE_ADDRESS, type Wire } from '../wire';
import { entryFromBytes, type AliasSource, type CacheEntry, type TypeCommit } from '../xds';
import type protobuf from 'protobufjs';
import { addressAliasesFromFrame } from './address-aliases';
import { EntrySlab } from './entry-slab';
import type { MessageSource, ResourceDelta } from './resource-delta';

/**
 * Messages encoded per batch, each batch touched first (ResourceFrameEncoder.touch): the translator's objects are
 * spread over the heap, and loading a batch's object graphs back to back lets their cache misses overlap where the
 * encoder would take them one after another (docs/design/encode-floor.md: floor_msg_batched_touch).
 */
const BATCH = 8;

/**
 * Turns generators' deltas into cache commits: encodes exactly the messages a delta lists as changed and
 * records its removes. It keeps no previous output: each generator says what changed since its own previous
 * output (ResourceDelta); an upsert whose bytes hash to the version the cache holds is dropped by the cache, so
 * an over-reported change never reaches a stream.
 */
export class Encoder {
  /** Per type: the generated encoder (pkg/wire/generated/), or null for types without one (protobufjs). */
  private readonly frames = new Map<string, ResourceFrameEncoder<object> | null>();
  /** Where the generated encoders write entries (no copy per entry). */
  private readonly slab = new EntrySlab();
  private readonly batchNames: string[] = [];
  private readonly batchMsgs: object[] = [];
  /** Checksum of the batches' touches: where the reads go, so they are not optimised away. */
  touched = 0;

  constructor(
    private readonly wire: Wire,
    private readonly types: ReadonlyMap<string, protobuf.Type>,
  ) {}

  encode(delta: ResourceDelta): TypeCommit {
    const { typeUrl } = delta;
    const type = this.types.get(typeUrl);
    if (!type) throw new Error(`no message type registered for ${typeUrl}`);
    const upserts: CacheEntry[] = [];
    const frames = this.frameEncoder(typeUrl);
    // An Address's on-demand keys are read from its frame when a table first needs them (addressAliasesFromFrame).
    const aliases: AliasSource = typeUrl === TYPE_ADDRESS ? addressAliasesFromFrame : NO_ALIASES;
    // Generators build messages in protobufjs form already (numeric enums, Uint8Array bytes), so they
    // are encoded as they are: fromObject made a full copy of each, garbage by the 200k in a first sync.
    // A generated encoder writes each frame where its entry keeps it (EntrySlab), BATCH messages at a time;
    // protobufjs (types without one) makes temporaries that compactFrames moves the frames away from.
    if (frames) {
      const names = this.batchNames;
      const msgs = this.batchMsgs;
      let n = 0;
      const flush = (): void => {
        let x = 0;
        for (let i = 0; i < n; i++) x += frames.touch(msgs[i]!);
        this.touched ^= x;
        for (let i = 0; i < n; i++) {
          const msg = msgs[i]!;
          upserts.push(this.slab.write(frames, names[i]!, msg, aliases));
        }
        n = 0;
      };
      // forEach: no iterator object or [k, v] pair per entry (200k of them in a first sync).
      delta.changed.forEach((m, name) => {
        names[n] = name;
        msgs[n] = isThunk(m) ? m() : m;
        if (++n === BATCH) flush();
      });
      flush();
      msgs.fill(EMPTY_MSG); // keep no message alive past the call
    } else {
      delta.changed.forEach((m, name) => {
        const msg = isThunk(m) ? m() : m;
        upserts.push(entryFromBytes(typeUrl, name, type.encode(msg).finish(), aliases));
      });
    }
    const removes = [...delta.removed];
    return { typeUrl, upserts: frames ? upserts : compactFrames(upserts), removes };
  }

  private frameEncoder(typeUrl: string): ResourceFrameEncoder<object> | null {
    let f = this.frames.get(typeUrl);
    if (f === undefined) {
      const codec = codecForTypeUrl(typeUrl);
      f = codec ? new ResourceFrameEncoder(typeUrl, codec) : null;
      this.frames.set(typeUrl, f);
    }
    return f;
  }

  get wireSchema(): Wire {
    return this.wire;
  }
}

/**
 * Re-homes each entry's frame next to the others in Node's buffer pool.
 * protobufjs allocates every Writer.finish() from the shared 8 KiB pool slabs,
 * and encoding one entry makes four buffers (message, Any, Resource, frame) of
 * which only the frame is kept: the three dead ones share its slab, so every
 * cached entry pinned ~4x its size (measured: ~2 KiB of array buffers per
 * entry at 200k entries). Copied in one loop after encoding, the frames fill
 * slabs back to back and the temporaries' slabs are freed.
 */
function compactFrames(upserts: CacheEntry[]): CacheEntry[] {
  for (let k = 0; k < upserts.length; k++) upserts[k] = upserts[k]!.rehomed();
  return upserts;
}

const EMPTY_MSG = Object.freeze({});
const NO_ALIASES: readonly string[] = Object.freeze([]);

/** A message source that makes its message when called (resource-delta.ts: MessageSource). */
function isThunk(m: MessageSource): m is () => object {
  return typeof m === 'function';
}
