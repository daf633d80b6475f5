import { codecForTypeUrl, ResourceFrameEncoder, TYPE_ADDRESS, type Wire } from '../wire';
import { entryFromBytes, entryFromFrame, type CacheEntry, type TypeCommit } from '../xds';
import type protobuf from 'protobufjs';
import { bytesToIp } from '../model';

/** Message objects keyed by resource name, in protobufjs form; identity marks "unchanged". */
export type MessageMap = ReadonlyMap<string, object>;

/**
 * Turns generator output into cache commits. Keeps the previous map per type
 * and encodes only entries whose object identity changed (generators reuse
 * unchanged objects); an entry whose bytes hash to the same version is dropped
 * by the cache, so no-op regenerations never reach a stream.
 */
export class Encoder {
  private readonly prev = new Map<string, MessageMap>();
  /** Types whose `prev` is a private copy (the caller's map is live: mutated in place after diff). */
  private readonly owned = new Set<string>();
  /** Per type: the generated encoder (pkg/wire/pb-generated.ts), or null for types without one (protobufjs). */
  private readonly frames = new Map<string, ResourceFrameEncoder<object> | null>();

  constructor(private readonly wire: Wire, private readonly types: ReadonlyMap<string, protobuf.Type>) {}

  /**
   * With `hint` (the generator's own changed/removed sets) only those names are
   * looked at — O(changes) instead of O(resources) per push. Without it the
   * maps are compared by identity.
   *
   * `live`: the caller keeps mutating `next` in place after this call (the
   * peering merger's output), so identity can only be compared against a
   * private copy: taken once on a full diff, then kept up to date from the
   * hints. Without `live`, `next` itself becomes the previous map.
   *
   * `extra`: resources of the same type that the caller tracks itself and
   * never puts in `next` (their messages are not kept): each changed one is
   * made (the thunk), encoded and dropped, each removed name deleted, and none
   * enters the previous map.
   */
  diff(
    typeUrl: string, next: MessageMap, hint?: { changed: ReadonlySet<string>; removed: ReadonlySet<string> },
    opts: { live?: boolean; extra?: { changed: ReadonlyMap<string, () => object>; removed: ReadonlySet<string> } } = {},
  ): TypeCommit {
    const type = this.types.get(typeUrl);
    if (!type) throw new Error(`no message type registered for ${typeUrl}`);
    const prev = this.prev.get(typeUrl);
    const upserts: CacheEntry[] = [];
    const removes: string[] = [];
    const frames = this.frameEncoder(typeUrl);
    const aliasesOf = typeUrl === TYPE_ADDRESS ? addressAliases : (): readonly string[] => NO_ALIASES;
    // Generators build messages in protobufjs form already (numeric enums, Uint8Array bytes), so they
    // are encoded as they are: fromObject made a full copy of each, garbage by the 200k in a first sync.
    // A generated encoder writes the whole frame into its reused buffer and the entry copies it once;
    // protobufjs (types without one) makes temporaries that compactFrames moves the frames away from.
    const encode = frames
      ? (name: string, msg: object): void => {
        const f = frames.encode(name, msg);
        upserts.push(entryFromFrame(f.bytes, aliasesOf(msg), f.nameLen, f.versionEnd));
      }
      : (name: string, msg: object): void => {
        upserts.push(entryFromBytes(typeUrl, name, type.encode(msg).finish(), aliasesOf(msg)));
      };
    if (opts.extra) {
      for (const [name, make] of opts.extra.changed) encode(name, make());
      for (const name of opts.extra.removed) removes.push(name);
    }
    const done = (): TypeCommit => ({ typeUrl, upserts: frames ? upserts : compactFrames(upserts), removes });
    if (hint && prev) {
      for (const name of hint.changed) {
        const msg = next.get(name);
        if (msg && prev.get(name) !== msg) encode(name, msg);
      }
      for (const name of hint.removed) if (!next.has(name)) removes.push(name);
      if (opts.live) {
        const own = this.owned.has(typeUrl) ? (prev as Map<string, object>) : new Map(prev);
        for (const name of hint.changed) {
          const msg = next.get(name);
          if (msg) own.set(name, msg);
        }
        for (const name of hint.removed) if (!next.has(name)) own.delete(name);
        this.prev.set(typeUrl, own);
        this.owned.add(typeUrl);
        return done();
      }
    } else {
      for (const [name, msg] of next) if (!prev || prev.get(name) !== msg) encode(name, msg);
      if (prev) for (const name of prev.keys()) if (!next.has(name)) removes.push(name);
    }
    if (opts.live) {
      this.prev.set(typeUrl, new Map(next));
      this.owned.add(typeUrl);
    } else {
      this.prev.set(typeUrl, next);
      this.owned.delete(typeUrl);
    }
    return done();
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

/** On-demand keys for an Address: `network/ip` per workload IP or service VIP (istiod's aliases). */
const NO_ALIASES: readonly string[] = Object.freeze([]);

export function addressAliases(msg: object): readonly string[] {
  const m = msg as { workload?: { network?: string; addresses?: Uint8Array[] }; service?: { addresses?: { network?: string; address?: Uint8Array }[] } };
  const out: string[] = [];
  if (m.workload) for (const a of m.workload.addresses ?? []) out.push(`${m.workload.network ?? ''}/${bytesToIp(a)}`);
  if (m.service) {
    for (const a of m.service.addresses ?? []) if (a.address) out.push(`${a.network ?? ''}/${bytesToIp(a.address)}`);
  }
  // Most workloads of a large mesh (split-horizon ones) have no address: one shared empty list.
  return out.length ? out : NO_ALIASES;
}
