import { bytesToIp } from '../../model';
import type { WorkloadMsg } from '../../translate';
import type { Conflict } from './merge-types';

/**
 * Who owns each address on each network, for flat mode (#4 point 5): flat
 * networks need unique pod and service CIDRs, so a peer pod whose address
 * another workload already owns is reported and left out — it never shadows
 * the owner. Local workloads claim first, then flat peer pods in the order
 * given; each collision is reported once (per distinct message) to
 * `onConflict`, and all of this merge's are returned per peer cluster.
 */
export class AddressOwners {
  private readonly owner = new Map<string, string>();

  /** Records every address of `w` as owned by `who`. */
  claim(w: WorkloadMsg, who: string): void {
    for (const b of w.addresses ?? []) this.owner.set(key(w.network, b), who);
  }

  /** The flat peer workloads that collide with nothing claimed before them (and are then claimed). */
  admitFlat<A extends { workload: WorkloadMsg }>(
    flat: readonly [uid: string, a: A, cluster: string][],
    reported: Set<string>,
    onConflict: (cluster: string, message: string) => void,
  ): { accepted: [string, A][]; conflicts: Map<string, Conflict[]> } {
    const accepted: [string, A][] = [];
    const conflicts = new Map<string, Conflict[]>();
    for (const [uid, a, cluster] of flat) {
      const w = a.workload;
      let clash: Conflict | undefined;
      for (const b of w.addresses ?? []) {
        const k = key(w.network, b);
        const owner = this.owner.get(k);
        if (!owner) continue;
        clash = {
          kind: 'WorkloadAddress',
          key: k,
          owners: [owner, `${cluster} ${uid}`],
          reason: `${bytesToIp(b)} of ${cluster}/${w.namespace}/${w.name} collides with ${owner}`,
        };
      }
      if (clash) {
        const l = conflicts.get(cluster) ?? [];
        l.push(clash);
        conflicts.set(cluster, l);
        if (!reported.has(clash.reason)) {
          reported.add(clash.reason);
          onConflict(cluster, clash.reason);
        }
        continue;
      }
      this.claim(w, `${cluster} ${uid}`);
      accepted.push([uid, a]);
    }
    return { accepted, conflicts };
  }
}

/** `<network>/<ip>`: one address space per network (an empty network is the default one). */
const key = (network: string | undefined, ip: Uint8Array): string => `${network ?? ''}/${bytesToIp(ip)}`;
