/** Message objects keyed by resource name, in protobufjs form. */
export type MessageMap = ReadonlyMap<string, object>;

/**
 * A message, or a function that makes it: called once, when the Encoder encodes it, for messages a generator
 * does not keep (split-horizon workloads: 200k of them at 2,000 peers x 100 services).
 */
export type MessageSource = object | (() => object);

/**
 * The contract between every generator and the Encoder: what one generator's output of one type changed since
 * that generator's previous output. `changed` holds every resource whose message may differ (listing an
 * unchanged one costs one encode: versions are content hashes and the cache drops a same-version upsert);
 * `removed` every name the previous output had and this one has not. The two are disjoint.
 *
 * A generator asked for a full build (the previous build may not have been committed) lists every current
 * resource as changed and, as removed, every name it emitted since its last committed output that it no
 * longer has.
 */
export interface ResourceDelta {
  readonly typeUrl: string;
  readonly changed: ReadonlyMap<string, MessageSource>;
  readonly removed: ReadonlySet<string>;
}

const NONE: ReadonlySet<string> = new Set();

/** A delta that changes nothing. */
export function emptyDelta(typeUrl: string): ResourceDelta {
  return { typeUrl, changed: new Map(), removed: NONE };
}

/** Compares two full maps by identity (generators keep an unchanged message's object): O(prev + next). */
export function diffMaps(typeUrl: string, prev: MessageMap, next: MessageMap): ResourceDelta {
  const changed = new Map<string, object>();
  const removed = new Set<string>();
  next.forEach((msg, name) => prev.get(name) !== msg && changed.set(name, msg));
  prev.forEach((_msg, name) => !next.has(name) && removed.add(name));
  return { typeUrl, changed, removed };
}

/** Every resource of `next` as changed, and every name of `before` that `next` lacks as removed. */
export function fullDelta(typeUrl: string, next: MessageMap, ...before: Iterable<string>[]): ResourceDelta {
  const removed = new Set<string>();
  for (const names of before) for (const name of names) if (!next.has(name)) removed.add(name);
  return { typeUrl, changed: next, removed };
}

/** The entries of `from` named in `names` (names `from` lacks are skipped): O(names). */
export function pick(names: Iterable<string>, from: MessageMap): Map<string, object> {
  const out = new Map<string, object>();
  for (const name of names) {
    const msg = from.get(name);
    if (msg !== undefined) out.set(name, msg);
  }
  return out;
}

/**
 * The names a generator removed in builds not yet known to be committed. A build that is not full confirms
 * that the previous build was committed (the PushBuilder asks for a full build after one that threw), so
 * `begin(false)` forgets them; a full build lists them again (fullDelta's `before`).
 */
export class UnconfirmedRemovals {
  private names = new Set<string>();

  begin(full: boolean): void {
    if (!full && this.names.size > 0) this.names = new Set();
  }

  record(removed: Iterable<string>): void {
    for (const name of removed) this.names.add(name);
  }

  values(): Iterable<string> {
    return this.names;
  }
}

/**
 * One type of a generator that rebuilds its whole map at each build (the peering exports): the delta from
 * its previous map by identity, or a full delta when asked.
 */
export class MapDeltas {
  private prev?: MessageMap;
  private readonly unconfirmed = new UnconfirmedRemovals();

  constructor(readonly typeUrl: string) {}

  next(map: MessageMap, full: boolean): ResourceDelta {
    this.unconfirmed.begin(full);
    const prev = this.prev;
    const d =
      full || !prev
        ? fullDelta(this.typeUrl, map, prev?.keys() ?? [], this.unconfirmed.values())
        : diffMaps(this.typeUrl, prev, map);
    this.unconfirmed.record(d.removed);
    this.prev = map;
    return d;
  }
}
