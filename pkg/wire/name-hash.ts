/** FNV-1a's 32-bit offset basis and prime. */
export const FNV_BASIS = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

/** The bits of FNV-1a a name hash keeps: V8's small integers are 31-bit signed. */
export const NAME_HASH_MASK = 0x3fffffff;

/**
 * A resource name's hash: 32-bit FNV-1a of its UTF-8 bytes folded into V8's small-integer range (stored and used as
 * a Map key unboxed). The cache indexes names by it (pkg/xds TypeTable) and every cache entry carries its name's
 * (CacheEntry.nameHash), computed where the name is written: ResourceFrameEncoder hashes the name in the loop that
 * copies it into the frame, so a commit hashes no name (docs/design/serve-one.md, fifth pass).
 */
export function nameHash(b: Uint8Array, start: number, end: number): number {
  let h = FNV_BASIS;
  for (let i = start; i < end; i++) h = Math.imul(h ^ b[i]!, FNV_PRIME);
  return h & NAME_HASH_MASK;
}

/** nameHash of a string's UTF-8 bytes, without encoding an ASCII string. */
export function nameHashString(s: string): number {
  let h = FNV_BASIS;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) {
      const b = Buffer.from(s, 'utf8');
      return nameHash(b, 0, b.length);
    }
    h = Math.imul(h ^ c, FNV_PRIME);
  }
  return h & NAME_HASH_MASK;
}
