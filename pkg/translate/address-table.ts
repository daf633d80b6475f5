import { CowMap, FrozenMap, ShardTable, ShardTableWriter } from '../registry';
import { LABEL } from '../model';
import type { PodObj } from '../model';
import { workloadUidForPod } from './types';
import type { AddressMsg, WorkloadMsg } from './types';

/** A pod's Address: always a workload. */
export type PodAddress = { workload: WorkloadMsg };

/**
 * The Address output of a translation: a map from resource name to Address, with the pods' Addresses kept apart,
 * keyed by the registry's pod key ("ns/name") in a ShardTable laid out like the snapshot's pod map. A pod's
 * resource name is its Workload uid, `<clusterId>//Pod/` + its key (workloadUidForPod), so the table is found from
 * the name by that prefix; every other Address (services "ns/hostname", WorkloadEntry and EndpointSlice uids, whose
 * second segment is never empty) lies in `rest`. Why: a full translation then makes no map entry per pod, and the
 * snapshot's key strings (already flat, already hashed) are the pods' keys (docs/design/translate-floor.md,
 * session 16). Iteration yields each pod's uid from its message (the string its Workload carries), then the rest.
 */
export class AddressTable implements ReadonlyMap<string, AddressMsg> {
  constructor(
    readonly podPrefix: string,
    readonly pods: ShardTable<PodAddress>,
    readonly rest: FrozenMap<AddressMsg>,
  ) {}

  get size(): number {
    return this.pods.size + this.rest.size;
  }

  get(name: string): AddressMsg | undefined {
    const key = podKey(this.podPrefix, name);
    return key !== undefined ? this.pods.get(key) : this.rest.get(name);
  }

  has(name: string): boolean {
    const key = podKey(this.podPrefix, name);
    return key !== undefined ? this.pods.has(key) : this.rest.has(name);
  }

  forEach(cb: (value: AddressMsg, name: string, map: ReadonlyMap<string, AddressMsg>) => void): void {
    this.pods.forEach((a) => cb(a, a.workload.uid, this));
    this.rest.forEach((a, k) => cb(a, k, this));
  }

  *entries(): MapIterator<[string, AddressMsg]> {
    for (const a of this.pods.values()) yield [a.workload.uid, a];
    yield* this.rest.entries();
  }

  *keys(): MapIterator<string> {
    for (const a of this.pods.values()) yield a.workload.uid;
    yield* this.rest.keys();
  }

  *values(): MapIterator<AddressMsg> {
    yield* this.pods.values();
    yield* this.rest.values();
  }

  [Symbol.iterator](): MapIterator<[string, AddressMsg]> {
    return this.entries();
  }
}

/** The writer of an AddressTable's next version: routes each name to the pods' table or the rest by its prefix. */
export class AddressTableWriter {
  constructor(
    private readonly podPrefix: string,
    private readonly pods: ShardTableWriter<PodAddress>,
    private readonly rest: CowMap<AddressMsg>,
  ) {}

  /**
   * A writer that starts from `prev` when it is a table of the same prefix (sharing everything until written), or
   * from a copy of its entries (outputs built elsewhere, or under another cluster id).
   */
  static from(clusterId: string, prev: ReadonlyMap<string, AddressMsg> | undefined): AddressTableWriter {
    const prefix = podUidPrefix(clusterId);
    if (prev instanceof AddressTable && prev.podPrefix === prefix)
      return new AddressTableWriter(prefix, prev.pods.thaw(), prev.rest.thaw());
    const w = new AddressTableWriter(prefix, ShardTableWriter.empty(), new CowMap());
    prev?.forEach((a, k) => w.set(k, a));
    return w;
  }

  /**
   * A writer holding every pod's Address (`make` of each pod of the snapshot's map, in one pass that hashes no key
   * when the map is the registry's FrozenMap) and nothing else yet: a full translation's start.
   */
  static forPods(
    clusterId: string,
    pods: ReadonlyMap<string, PodObj>,
    make: (p: PodObj) => PodAddress | undefined,
  ): AddressTableWriter {
    let table: ShardTableWriter<PodAddress>;
    if (pods instanceof FrozenMap) table = ShardTable.mapFrom(pods as FrozenMap<PodObj>, make, touchPod).thaw();
    else {
      // Snapshots built by hand (tests) hold plain maps.
      table = ShardTableWriter.empty<PodAddress>();
      pods.forEach((p, k) => {
        const a = make(p);
        if (a) table.set(k, a);
      });
    }
    return new AddressTableWriter(podUidPrefix(clusterId), table, new CowMap());
  }

  get(name: string): AddressMsg | undefined {
    const key = podKey(this.podPrefix, name);
    return key !== undefined ? this.pods.get(key) : this.rest.get(name);
  }

  set(name: string, a: AddressMsg): void {
    const key = podKey(this.podPrefix, name);
    if (key === undefined) this.rest.set(name, a);
    else if ('workload' in a) this.pods.set(key, a);
    else throw new Error(`address ${name}: a pod's name with a service message`);
  }

  delete(name: string): boolean {
    const key = podKey(this.podPrefix, name);
    return key !== undefined ? this.pods.delete(key) : this.rest.delete(name);
  }

  freeze(): AddressTable {
    return new AddressTable(this.podPrefix, this.pods.freeze(), this.rest.freeze());
  }
}

/**
 * The first reads a pod's Workload makes (the pod object, its name, IP list and labels), run over a shard ahead of
 * building its pods (ShardTable.mapFrom's `touch`): the registry's pods are visited in hash order, scattered in
 * memory, and a CPU profile of the build put ~45 % of it on the first two of these loads.
 */
const touchPod = (p: PodObj): number => p.name.length + p.ips.length + (p.labels[LABEL.app]?.length ?? 0);

/** A pod's registry key "ns/name" from its resource name, or undefined for any other Address. */
const podKey = (prefix: string, name: string): string | undefined =>
  name.startsWith(prefix) ? name.slice(prefix.length) : undefined;

/** The part of every pod's Workload uid before its registry key "ns/name". */
const podUidPrefix = (clusterId: string): string => workloadUidForPod(clusterId, '', '').slice(0, -1);
