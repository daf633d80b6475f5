import { TYPE_ADDRESS } from '../../pkg/wire';

/** The attacks of bench/sim/attack-sim.ts, in the order the attack scenario runs them. */
export const ATTACKS = [
  'budget_pinning', 'header_flood', 'preface_less', 'idle_sessions', 'per_source_flood', 'names_flood', 'nack_flood',
] as const;
export type AttackName = (typeof ATTACKS)[number];

/**
 * The names flood's DeltaDiscoveryRequest body: type_url Address and `count` 9-character names
 * "n/<7 base-36 digits>" from `from` on (11 bytes a name: 350,000 are 3.85 MB, under the 4 MiB receive limit).
 */
export function namesFloodRequest(from: number, count: number): Buffer {
  const type = Buffer.from(TYPE_ADDRESS);
  const out = Buffer.allocUnsafe(2 + type.length + count * 11);
  let off = 0;
  out[off++] = 0x12;
  out[off++] = type.length;
  off += type.copy(out, off);
  for (let i = from; i < from + count; i++) {
    out[off++] = 0x1a;
    out[off++] = 9;
    off += out.write(`n/${(i % 36 ** 7).toString(36).padStart(7, '0')}`, off, 'latin1');
  }
  return out.subarray(0, off);
}
