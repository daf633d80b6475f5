import type { ChangeSet } from '../registry';
import type { Kind } from '../model';

/** Accumulates ChangeSets between pushes (merged, bounded by the number of distinct keys). */
export class ChangeAccumulator {
  private byKind = new Map<Kind, Set<string>>();

  add(c: ChangeSet): void {
    for (const [kind, keys] of c.byKind) {
      let s = this.byKind.get(kind);
      if (!s) this.byKind.set(kind, (s = new Set()));
      for (const k of keys) s.add(k);
    }
  }

  /** Returns everything accumulated and starts over. */
  take(): ChangeSet {
    const out: ChangeSet = { byKind: this.byKind };
    this.byKind = new Map();
    return out;
  }
}
