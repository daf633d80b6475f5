import type { Clock } from '../lifecycle';
import type { Logger } from '../log';
import { ALL_KINDS } from '../model';
import type {
  AuthorizationPolicyObj,
  EndpointSliceObj,
  GatewayObj,
  Kind,
  ModelObj,
  NamespaceObj,
  NodeObj,
  PeerAuthenticationObj,
  PodObj,
  ServiceObj,
  WorkloadEntryObj,
} from '../model';
import { CowMap } from './cow-map';
import { NamespaceIndex } from './namespace-index';
import { identify, normalise } from './normalize';
import type { RawObject } from './normalize';
import type { ChangeSet, RegistryEvent, RegistrySnapshot, Rejection } from './types';
import { deepEqual, StringPool } from './validate';

interface SourceState {
  /** Explicitly registered sources gate isLoaded(); implicit ones (one per file) do not. */
  registered: boolean;
  loaded: boolean;
  /** "Kind|key" -> the last good object this source supplied. */
  objects: Map<string, ModelObj>;
  rejections: Map<string, Rejection>;
}

const sep = '|';
const fullKey = (kind: Kind, key: string): string => kind + sep + key;

/**
 * The registry: single writer of the mesh object store. Sources (files, a
 * Kubernetes watch) push raw objects; each is validated and normalised alone,
 * rejected objects keep their last good version, and listeners get one
 * ChangeSet per batch that actually changed something.
 *
 * When two sources supply the same object (kind + ns/name, which is also
 * what the workload uid is derived from), the source whose id sorts first
 * wins — for files, the first by path — whatever the order of writes; the
 * other copy is a conflict, reported (warn, and in `rejected`) until one
 * side goes, when the remaining copy takes over. Within one source the
 * first document wins.
 */
export class LocalRegistry {
  private readonly log: Logger;
  private readonly sources = new Map<string, SourceState>();
  private readonly maps = new Map<Kind, CowMap<ModelObj>>();
  /** Pods and WorkloadEntries by namespace (translation's namespace-wide recomputes). */
  private readonly podsByNs = new NamespaceIndex();
  private readonly wesByNs = new NamespaceIndex();
  /** "Kind|key" -> source whose copy is in force. */
  private readonly owner = new Map<string, string>();
  private readonly listeners = new Set<(c: ChangeSet) => void>();
  private readonly warnedKinds = new Set<string>();
  /** "Kind|key" -> the conflict of an object supplied by more than one source. */
  private readonly conflicts = new Map<string, Rejection>();
  private readonly strings = new StringPool();
  private version = 0;
  private cached: RegistrySnapshot | undefined;
  private rejectedCache: readonly Rejection[] | undefined;
  // Per-batch accumulators.
  private pending = new Map<Kind, Set<string>>();
  private rejectionsDirty = false;

  constructor(opts: { logger: Logger; clock: Clock }) {
    this.log = opts.logger.child({ component: 'registry' });
    for (const k of ALL_KINDS) this.maps.set(k, new CowMap());
  }

  registerSource(sourceId: string): void {
    const s = this.source(sourceId);
    s.registered = true;
  }

  markLoaded(sourceId: string): void {
    this.source(sourceId).loaded = true;
  }

  isLoaded(): boolean {
    for (const s of this.sources.values()) if (s.registered && !s.loaded) return false;
    return true;
  }

  replaceSource(sourceId: string, objects: { obj: RawObject; origin?: string }[]): void {
    const src = this.source(sourceId);
    const next = new Map<string, ModelObj>();
    const rejections = new Map<string, Rejection>();
    const firstOrigin = new Map<string, string | undefined>();
    objects.forEach((item, i) => {
      const r = normalise(item.obj, this.strings.intern);
      if (r.status === 'ok') {
        const fk = fullKey(r.kind, r.key);
        if (firstOrigin.has(fk)) {
          const first = firstOrigin.get(fk) ?? 'an earlier document';
          const reason = `duplicate ${r.kind} ${r.key} in the same source: ${first} wins`;
          rejections.set(`dup#${item.origin ?? i}`, this.rejection(r.kind, r.key, item.origin, reason));
          return;
        }
        firstOrigin.set(fk, item.origin);
        next.set(fk, r.obj);
        return;
      }
      if (r.status === 'unknown') {
        this.warnUnknown(r.kind, item.origin);
        return;
      }
      const rej = this.rejection(r.kind, r.key, item.origin, r.reason);
      rejections.set(r.key ? r.kind + sep + r.key : `#${item.origin ?? i}`, rej);
      // Keep the last good version of the rejected object (if we can tell which one it is).
      if (r.key && ALL_KINDS.includes(r.kind as Kind)) {
        const fk = fullKey(r.kind as Kind, r.key);
        const prev = src.objects.get(fk);
        if (prev && !next.has(fk)) next.set(fk, prev);
      }
    });
    for (const fk of [...src.objects.keys()]) if (!next.has(fk)) this.remove(sourceId, src, fk);
    for (const [fk, o] of next) this.put(sourceId, src, fk, o);
    this.setRejections(src, rejections);
    this.flush();
  }

  applyEvents(sourceId: string, events: RegistryEvent[]): void {
    const src = this.source(sourceId);
    const rejections = new Map(src.rejections);
    for (const ev of events) {
      if (ev.type === 'delete') {
        const id = identify(ev.obj);
        if (!id.known) continue;
        if (!id.key) {
          this.log.warn({ origin: ev.origin }, 'delete event without a name ignored');
          continue;
        }
        rejections.delete(id.known + sep + id.key);
        this.remove(sourceId, src, fullKey(id.known, id.key));
        continue;
      }
      const r = normalise(ev.obj, this.strings.intern);
      if (r.status === 'ok') {
        rejections.delete(r.kind + sep + r.key);
        this.put(sourceId, src, fullKey(r.kind, r.key), r.obj);
      } else if (r.status === 'unknown') {
        this.warnUnknown(r.kind, ev.origin);
      } else {
        rejections.set(
          r.key ? r.kind + sep + r.key : `#${ev.origin ?? ''}`,
          this.rejection(r.kind, r.key, ev.origin, r.reason),
        );
      }
    }
    this.setRejections(src, rejections);
    this.flush();
  }

  /**
   * Replaces the source-level rejections that are not about one object, e.g.
   * YAML documents that did not parse (keyed by origin).
   */
  reportParseErrors(sourceId: string, errors: { origin: string; reason: string }[]): void {
    const src = this.source(sourceId);
    const rejections = new Map([...src.rejections].filter(([k]) => !k.startsWith('parse#')));
    for (const e of errors) rejections.set(`parse#${e.origin}`, this.rejection('', undefined, e.origin, e.reason));
    this.setRejections(src, rejections);
    this.flush();
  }

  /** How many objects a source supplies now (0 for an unknown source). */
  sourceSize(sourceId: string): number {
    return this.sources.get(sourceId)?.objects.size ?? 0;
  }

  /** Withdraws everything a source supplied and forgets it (e.g. a deleted file). */
  removeSource(sourceId: string): void {
    const src = this.sources.get(sourceId);
    if (!src) return;
    for (const fk of [...src.objects.keys()]) this.remove(sourceId, src, fk);
    this.setRejections(src, new Map());
    this.sources.delete(sourceId);
    this.flush();
  }

  snapshot(): RegistrySnapshot {
    if (this.cached) return this.cached;
    this.cached = Object.freeze({
      version: this.version,
      rejected: this.rejected(),
      podsByNamespace: this.podsByNs.freeze(),
      workloadEntriesByNamespace: this.wesByNs.freeze(),
      namespaces: this.frozen<NamespaceObj>('Namespace'),
      services: this.frozen<ServiceObj>('Service'),
      pods: this.frozen<PodObj>('Pod'),
      workloadEntries: this.frozen<WorkloadEntryObj>('WorkloadEntry'),
      nodes: this.frozen<NodeObj>('Node'),
      authorizationPolicies: this.frozen<AuthorizationPolicyObj>('AuthorizationPolicy'),
      peerAuthentications: this.frozen<PeerAuthenticationObj>('PeerAuthentication'),
      gateways: this.frozen<GatewayObj>('Gateway'),
      endpointSlices: this.frozen<EndpointSliceObj>('EndpointSlice'),
    });
    return this.cached;
  }

  /** One kind's objects: an object is filed under fullKey(its kind, its key), so each map holds only that kind. */
  private frozen<T extends ModelObj>(kind: T['kind']): ReadonlyMap<string, T> {
    const all: ReadonlyMap<string, ModelObj> = this.maps.get(kind)!.freeze();
    return all as ReadonlyMap<string, T>;
  }

  onChange(listener: (changes: ChangeSet) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private source(id: string): SourceState {
    let s = this.sources.get(id);
    if (!s) {
      s = { registered: false, loaded: false, objects: new Map(), rejections: new Map() };
      this.sources.set(id, s);
    }
    return s;
  }

  private rejection(kind: string, key: string | undefined, origin: string | undefined, reason: string): Rejection {
    const r: Rejection = { kind, key: key ?? '', reason };
    if (origin !== undefined) r.origin = origin;
    return r;
  }

  private setRejections(src: SourceState, next: Map<string, Rejection>): void {
    for (const [k, r] of next) {
      const old = src.rejections.get(k);
      if (old && deepEqual(old, r)) continue;
      this.rejectionsDirty = true;
      this.log.warn({ kind: r.kind, key: r.key, origin: r.origin, reason: r.reason }, 'object rejected');
    }
    for (const k of src.rejections.keys()) if (!next.has(k)) this.rejectionsDirty = true;
    src.rejections = next;
  }

  private warnUnknown(kind: string, origin?: string): void {
    if (this.warnedKinds.has(kind)) return;
    this.warnedKinds.add(kind);
    this.log.warn({ kind, origin }, 'unsupported kind skipped (warned once per kind)');
  }

  private put(sourceId: string, src: SourceState, fk: string, o: ModelObj): void {
    src.objects.set(fk, o);
    const cur = this.owner.get(fk);
    if (cur !== undefined && cur !== sourceId) {
      this.noteConflict(fk);
      if (cur < sourceId) return; // the first source by id keeps it
    }
    this.owner.set(fk, sourceId);
    this.setEffective(fk, o);
  }

  private remove(sourceId: string, src: SourceState, fk: string): void {
    if (!src.objects.delete(fk)) return;
    // put() records a conflict whenever a second source holds an object, so without one no other source holds
    // it and the pass over every source (one per manifest file) is skipped.
    const shared = this.conflicts.has(fk);
    if (shared) this.noteConflict(fk);
    if (this.owner.get(fk) !== sourceId) return;
    let next: string | undefined;
    if (shared)
      for (const [id, other] of this.sources) if (other.objects.has(fk) && (next === undefined || id < next)) next = id;
    if (next !== undefined) {
      this.owner.set(fk, next);
      this.setEffective(fk, this.sources.get(next)!.objects.get(fk));
      return;
    }
    this.owner.delete(fk);
    this.setEffective(fk, undefined);
  }

  /** Recomputes the conflict record of one object from the sources that hold it now. */
  private noteConflict(fk: string): void {
    const holders = [...this.sources]
      .filter(([, s]) => s.objects.has(fk))
      .map(([id]) => id)
      .sort();
    const old = this.conflicts.get(fk);
    if (holders.length < 2) {
      if (old) {
        this.conflicts.delete(fk);
        this.rejectionsDirty = true;
        this.log.info({ key: fk }, 'duplicate object resolved');
      }
      return;
    }
    const i = fk.indexOf(sep);
    const [winner, ...losers] = holders;
    const reason = `duplicate: also supplied by ${losers.join(', ')}; ${winner} wins (first by name)`;
    if (old?.reason === reason) return;
    const r = this.rejection(fk.slice(0, i), fk.slice(i + 1), losers.join(','), reason);
    this.conflicts.set(fk, r);
    this.rejectionsDirty = true;
    this.log.warn(
      { kind: r.kind, key: r.key, winner, losers },
      'object supplied by more than one source; the first wins',
    );
  }

  private setEffective(fk: string, o: ModelObj | undefined): void {
    const i = fk.indexOf(sep);
    const kind = fk.slice(0, i) as Kind;
    const key = fk.slice(i + 1);
    const map = this.maps.get(kind)!;
    const cur = map.get(key);
    const idx = kind === 'Pod' ? this.podsByNs : kind === 'WorkloadEntry' ? this.wesByNs : undefined;
    if (o === undefined) {
      if (!map.delete(key)) return;
      idx?.delete(key);
    } else {
      if (cur !== undefined && (cur === o || deepEqual(cur, o))) return;
      map.set(key, o);
      if (cur === undefined) idx?.add(key);
    }
    let set = this.pending.get(kind);
    if (!set) this.pending.set(kind, (set = new Set()));
    set.add(key);
  }

  private rejected(): readonly Rejection[] {
    if (!this.rejectedCache) {
      const all: Rejection[] = [];
      for (const s of this.sources.values()) all.push(...s.rejections.values());
      all.push(...this.conflicts.values());
      this.rejectedCache = Object.freeze(all);
    }
    return this.rejectedCache;
  }

  /** Ends a batch: bump the version and notify if anything visible changed. */
  private flush(): void {
    const changed = this.pending.size > 0;
    if (!changed && !this.rejectionsDirty) return;
    this.version++;
    this.cached = undefined;
    if (this.rejectionsDirty) this.rejectedCache = undefined;
    this.rejectionsDirty = false;
    if (!changed) return;
    const changes: ChangeSet = { byKind: this.pending };
    this.pending = new Map();
    for (const l of [...this.listeners]) {
      try {
        l(changes);
      } catch (e) {
        this.log.error({ err: e }, 'registry listener threw');
      }
    }
  }
}
