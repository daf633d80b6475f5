import type { AddressMsg, WorkloadMsg } from '../../translate';
import { isWorkload } from './export';

/**
 * Local pods of an exported service also back its global hostname: a local
 * workload that lists `<ns>/<svc>.<ns>.svc.<domain>` gains the matching
 * `<ns>/<svc>.<ns>.<suffix>` key (issue #4 point 5). The copy is memoised per
 * source workload object and key set, so an unchanged pod yields the same
 * output object and the encoder re-encodes nothing.
 */
export class GlobalKeyCopies {
  private readonly memo = new WeakMap<WorkloadMsg, { sig: string; msg: { workload: WorkloadMsg } }>();

  /** `a` itself, or its copy with the global keys of `extraKeys` (local service key -> global service key) added. */
  apply(a: AddressMsg, extraKeys: ReadonlyMap<string, string>): AddressMsg {
    if (!isWorkload(a) || !a.workload.services) return a;
    const w = a.workload;
    const own = a.workload.services;
    let add: string[] | undefined;
    for (const k in own) {
      const gk = extraKeys.get(k);
      if (gk && !own[gk]) (add ??= []).push(k);
    }
    if (!add) return a;
    const sig = add.join(',');
    const prev = this.memo.get(w);
    if (prev && prev.sig === sig) return prev.msg;
    const services = { ...own };
    for (const k of add) services[extraKeys.get(k)!] = own[k]!;
    const msg = { workload: { ...w, services } };
    this.memo.set(w, { sig, msg });
    return msg;
  }
}
