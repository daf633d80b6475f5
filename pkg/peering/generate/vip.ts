import { createHash } from 'node:crypto';

/**
 * Global-service VIPs inside 240.240.0.0/16 (istio's auto-allocation range).
 * Each hostname hashes to a preferred slot; collisions probe linearly, taking
 * hostnames in sorted order, so every cluster that knows the same set of global
 * hostnames allocates the same VIPs without coordination. .0 and .255.255 are
 * never used; slots already taken by local addresses are skipped.
 */
const SLOTS = 65534;
const slotCache = new Map<string, number>();

export function preferredSlot(host: string): number {
  let s = slotCache.get(host);
  if (s === undefined) {
    s = (createHash('sha256').update(host).digest().readUInt32BE(0) % SLOTS) + 1;
    if (slotCache.size > 1_000_000) slotCache.clear();
    slotCache.set(host, s);
  }
  return s;
}

export function slotToBytes(slot: number): Buffer {
  return Buffer.from([240, 240, slot >> 8, slot & 0xff]);
}

/** Slot of an address inside 240.240.0.0/16, else undefined. */
export function slotOf(ip: Uint8Array): number | undefined {
  return ip.length === 4 && ip[0] === 240 && ip[1] === 240 ? (ip[2]! << 8) | ip[3]! : undefined;
}

export function allocateVips(hosts: Iterable<string>, reserved: ReadonlySet<number> = new Set()): Map<string, number> {
  const sorted = [...new Set(hosts)].sort();
  const used = new Set<number>();
  const out = new Map<string, number>();
  for (const h of sorted) {
    let s = preferredSlot(h);
    for (let i = 0; i < SLOTS && (used.has(s) || reserved.has(s)); i++) s = (s % SLOTS) + 1;
    used.add(s);
    out.set(h, s);
  }
  return out;
}
