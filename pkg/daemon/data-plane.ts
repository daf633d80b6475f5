import { TYPE_ADDRESS } from '../wire';
import type { StreamStatus } from '../xds';

/** ztunnel node ids are `ztunnel~<ip>~<pod>.<ns>~<ns>.svc.<suffix>` (ztunnel src/config.rs). */
export function isZtunnel(nodeId: string): boolean {
  return nodeId.startsWith('ztunnel~');
}

/**
 * The lowest cache seq every connected ztunnel has ACKed its Address stream up
 * to: everything committed at or below it is held by every local ztunnel.
 * A ztunnel that has not asked for Address yet holds nothing (seq 0).
 */
export function ztunnelAcks(
  seq: number,
  streams: readonly StreamStatus[],
): { seq: number; ackedSeq?: number; ztunnels: number } {
  let acked: number | undefined;
  let ztunnels = 0;
  for (const s of streams) {
    if (!isZtunnel(s.nodeId)) continue;
    ztunnels++;
    const a = s.types.find((t) => t.typeUrl === TYPE_ADDRESS)?.ackedSeq ?? 0;
    acked = acked === undefined ? a : Math.min(acked, a);
  }
  return acked === undefined ? { seq, ztunnels } : { seq, ackedSeq: acked, ztunnels };
}
