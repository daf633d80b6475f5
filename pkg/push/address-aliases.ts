import { bytesToIp } from '../model';
import { forEachLenField, frameValueRange } from '../wire';

const NO_ALIASES: readonly string[] = Object.freeze([]);

/** On-demand keys for an Address: `network/ip` per workload IP or service VIP (istiod's aliases). */
export function addressAliases(msg: object): readonly string[] {
  const m = msg as {
    workload?: { network?: string; addresses?: Uint8Array[] };
    service?: { addresses?: { network?: string; address?: Uint8Array }[] };
  };
  const out: string[] = [];
  if (m.workload) for (const a of m.workload.addresses ?? []) out.push(`${m.workload.network ?? ''}/${bytesToIp(a)}`);
  if (m.service) {
    for (const a of m.service.addresses ?? []) if (a.address) out.push(`${a.network ?? ''}/${bytesToIp(a.address)}`);
  }
  // Most workloads of a large mesh (split-horizon ones) have no address: one shared empty list. Otherwise a
  // copy of exactly its length: push grows a backing store to 17 slots, and the cache entry keeps the list.
  return out.length ? out.slice() : NO_ALIASES;
}

/*
 * Field numbers (proto/istio/workload/workload.proto): Address workload=1, service=2; Workload addresses=3 (bytes),
 * network=4; Service addresses=4 (NetworkAddress); NetworkAddress network=1, address=2 (bytes).
 */

/**
 * addressAliases read from an encoded Address frame (pkg/xds AliasReader): the same keys in the same order, made
 * only when a table first needs them (TypeTable.aliasTargets), from the bytes the entry already holds.
 */
export function addressAliasesFromFrame(frame: Buffer): readonly string[] {
  const [start, end] = frameValueRange(frame);
  const out: string[] = [];
  forEachLenField(frame, start, end, (field, s, e) => {
    if (field === 1) workloadAliases(frame, s, e, out);
    else if (field === 2) {
      forEachLenField(frame, s, e, (f, as, ae) => {
        if (f === 4) networkAddressAlias(frame, as, ae, out);
      });
    }
  });
  return out.length ? out.slice() : NO_ALIASES; // exactly its length, as addressAliases: the entry keeps it
}

function workloadAliases(b: Buffer, start: number, end: number, out: string[]): void {
  let network = '';
  const ips: string[] = [];
  // Fields 3 and 4 come before the rest (field-number order, forEachLenField): the walk ends at the first past
  // them, before the services map and the policies (most of a Workload's bytes).
  forEachLenField(b, start, end, (f, s, e) => {
    if (f === 3) ips.push(bytesToIp(b.subarray(s, e)));
    else if (f === 4) network = b.toString('utf8', s, e);
    else if (f > 4) return false;
  });
  for (const ip of ips) out.push(`${network}/${ip}`);
}

function networkAddressAlias(b: Buffer, start: number, end: number, out: string[]): void {
  let network = '';
  let ip: string | undefined;
  forEachLenField(b, start, end, (f, s, e) => {
    if (f === 1) network = b.toString('utf8', s, e);
    else if (f === 2) ip = bytesToIp(b.subarray(s, e));
  });
  if (ip !== undefined) out.push(`${network}/${ip}`);
}
