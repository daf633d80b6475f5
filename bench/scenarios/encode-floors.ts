/**
 * The parts of the encode path on their own, for bench/scenarios/encode.ts
 * (docs/design/encode-floor.md): content-hash candidates over the same
 * message bytes, the floors (`floor_*`) over the same Addresses, and the
 * previous Encoder path (scratch frame + entry that searches the frame for
 * the name, no batching) as the baseline measured in the same rounds.
 */
import * as crypto from 'node:crypto';
import { addressAliases, Encoder, fullDelta } from '../../pkg/push';
import type { AddressMsg } from '../../pkg/translate';
import { CODECS, ResourceFrameEncoder, TYPE_ADDRESS, TYPE_AUTHORIZATION, type Wire } from '../../pkg/wire';
import { entryFromFrame, type CacheEntry } from '../../pkg/xds';

/** CPU µs (user + system) spent in fn. */
export function cpuUs(fn: () => void): number {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return c.user + c.system;
}

/** A non-cryptographic 64-bit candidate (two 32-bit multiply-xor lanes), as fast as plain JS gets. */
function jsHash64(b: Uint8Array, start: number, end: number): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x9e3779b9;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const k = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    h1 = Math.imul(h1 ^ k, 0x01000193);
    h2 = Math.imul((h2 ^ k) + (h2 >>> 15), 0x5bd1e995);
  }
  for (; i < end; i++) {
    h1 = Math.imul(h1 ^ b[i]!, 0x01000193);
    h2 = Math.imul(h2 ^ b[i]!, 0x5bd1e995);
  }
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

export const HASHES: Record<string, (x: Buffer) => string> = {
  sha256_createHash: (x) => crypto.createHash('sha256').update(x).digest().toString('hex', 0, 8),
  sha256_oneshot: (x) => crypto.hash('sha256', x, 'hex').slice(0, 16),
  sha1_oneshot: (x) => crypto.hash('sha1', x, 'hex').slice(0, 16),
  md5_oneshot: (x) => crypto.hash('md5', x, 'hex').slice(0, 16),
  js_64bit: (x) => jsHash64(x, 0, x.length),
};

/**
 * The Encoder before entries were written in place (the baseline in the same run): every frame encoded into the
 * scratch buffer, then copied into its entry, the name's copies found by searching the frame; one message at a
 * time.
 */
export function prevPath(
  addresses: ReadonlyMap<string, AddressMsg>,
  authorizations: ReadonlyMap<string, object>,
): CacheEntry[] {
  const out: CacheEntry[] = [];
  const fa = new ResourceFrameEncoder(TYPE_ADDRESS, CODECS['istio.workload.Address']);
  addresses.forEach((m, name) => {
    const f = fa.encode(name, m);
    out.push(entryFromFrame(f.bytes, addressAliases(m), f.nameLen, f.versionEnd));
  });
  const fz = new ResourceFrameEncoder(TYPE_AUTHORIZATION, CODECS['istio.security.Authorization']);
  authorizations.forEach((m, name) => {
    const f = fz.encode(name, m);
    out.push(entryFromFrame(f.bytes, [], f.nameLen, f.versionEnd));
  });
  return out;
}

/** Freezes each object of `copy` whose counterpart in `orig` is frozen (structuredClone drops frozenness). */
function mirrorFrozen(orig: unknown, copy: unknown, seen = new Set<object>()): void {
  if (orig === null || typeof orig !== 'object' || ArrayBuffer.isView(orig) || seen.has(orig)) return;
  seen.add(orig);
  const o = orig as Record<string, unknown>;
  const c = copy as Record<string, unknown>;
  for (const k of Object.keys(o)) mirrorFrozen(o[k], c[k], seen);
  if (Object.isFrozen(o)) Object.freeze(c);
}

/** Each floor measured once (µs per resource); call once per round, interleaved with the paths. */
export function floorParts(addresses: ReadonlyMap<string, AddressMsg>, wire: Wire): Record<string, () => number> {
  const c = CODECS['istio.workload.Address'];
  const frameEnc = new ResourceFrameEncoder(TYPE_ADDRESS, c);
  const frames = [...addresses].map(([name, m]) => {
    const f = frameEnc.encode(name, m);
    return { ...f, bytes: Buffer.from(f.bytes) };
  });
  const msgs = [...addresses.values()];
  const hot = msgs.slice(0, 200);
  // The same Addresses deep-copied in one go: the objects (and their strings and bytes) side by side in memory,
  // where the translator's output is spread over the heap between its temporaries.
  const compact = structuredClone(msgs);
  // The same shared pieces frozen as the translator's are, so the Encoder copies them as it does in the path.
  mirrorFrozen(msgs, compact);
  const compactMap = new Map([...addresses.keys()].map((k, i) => [k, compact[i]!]));
  const types = new Map([[TYPE_ADDRESS, wire.Address]]);
  const buf = Buffer.allocUnsafe(1 << 16);
  let sink = 0;
  const per = (fn: () => void, n: number): number => cpuUs(fn) / n;
  const batched = (touch: (m: AddressMsg) => number): void => {
    for (let i = 0; i < msgs.length; i += 8) {
      const e = Math.min(msgs.length, i + 8);
      for (let j = i; j < e; j++) sink ^= touch(msgs[j]!);
      for (let j = i; j < e; j++) c.writeBack(msgs[j]!, buf, buf.length);
    }
  };
  return {
    // the frame copy: a fresh buffer holding the frame, as a cache entry kept it before
    copy: () => per(() => frames.forEach((f) => Buffer.allocUnsafe(f.bytes.length).set(f.bytes, 0)), frames.length),
    // pkg/xds entryFromFrame searching the frame for the name's copies (the previous entry)
    entry: () => per(() => frames.forEach((f) => entryFromFrame(f.bytes, [], f.nameLen, f.versionEnd)), frames.length),
    // entryFromFrame with the copies' offsets the encoder marked (a copy in pieces, no search)
    entry_marked: () =>
      per(
        () => frames.forEach((f) => entryFromFrame(f.bytes, [], f.nameLen, f.versionEnd, f.hole1, f.hole2)),
        frames.length,
      ),
    // message + frame + hash, no entry: ResourceFrameEncoder alone, into its scratch buffer
    frame: () => per(() => addresses.forEach((m, name) => frameEnc.encode(name, m)), addresses.size),
    // the message alone over 200 Addresses, 51 times: what it costs when the objects are in the CPU cache
    msg_hot: () =>
      per(() => {
        for (let k = 0; k < 51; k++) for (const m of hot) c.writeBack(m, buf, buf.length);
      }, 51 * hot.length),
    // the message alone, 8 at a time, each batch touched first (the generated touch, as the Encoder does)
    msg_batched_touch: () => per(() => batched((m) => c.touch(m)), msgs.length),
    // the same with every field read first (the generated read): a longer touch, fewer misses in flight
    msg_batched_read: () => per(() => batched((m) => c.read(m)), msgs.length),
    // the message alone over the compact copy: what the translator's heap layout costs in cache misses
    msg_compact: () => per(() => compact.forEach((m) => c.writeBack(m, buf, buf.length)), compact.length),
    // the whole Encoder path (batches, frames, hashes, entries) over the compact copy: this design's cost with no
    // cache miss on the translator's heap layout
    path_compact: () => per(() => new Encoder(wire, types).encode(fullDelta(TYPE_ADDRESS, compactMap)), compact.length),
    // reading the input: every field of the translator's objects loaded (the generated read), nothing written
    read: () => per(() => msgs.forEach((m) => (sink ^= c.read(m))), msgs.length),
    // the on-demand aliases of each Address (network/ip strings), part of every entry the Encoder makes
    aliases: () => per(() => msgs.forEach((m) => (sink ^= addressAliases(m).length)), msgs.length),
    // the same reads over the compact copy: the reads' own compute, without the layout's misses
    read_compact: () => per(() => compact.forEach((m) => (sink ^= c.read(m))), compact.length),
  };
}
