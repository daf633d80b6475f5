/**
 * Keys of one namespaced kind grouped by namespace, copy-on-write like
 * CowMap: freezing copies only the namespace table, and the first write to a
 * namespace after a freeze copies that namespace's set alone. Lets
 * translation recompute "every workload of namespace X" without scanning
 * 50k pods.
 */
export class NamespaceIndex {
  private sets = new Map<string, Set<string>>();
  private shared = new Set<string>();
  private frozen: ReadonlyMap<string, ReadonlySet<string>> | undefined;

  add(key: string): void {
    const ns = key.slice(0, key.indexOf('/'));
    const cur = this.sets.get(ns);
    if (cur?.has(key)) return;
    this.writable(ns).add(key);
  }

  delete(key: string): void {
    const ns = key.slice(0, key.indexOf('/'));
    if (!this.sets.get(ns)?.has(key)) return;
    const s = this.writable(ns);
    s.delete(key);
    if (s.size === 0) {
      this.sets.delete(ns);
      this.shared.delete(ns);
    }
  }

  freeze(): ReadonlyMap<string, ReadonlySet<string>> {
    if (!this.frozen) {
      this.frozen = new Map(this.sets);
      for (const ns of this.sets.keys()) this.shared.add(ns);
    }
    return this.frozen;
  }

  private writable(ns: string): Set<string> {
    this.frozen = undefined;
    let s = this.sets.get(ns);
    if (!s) {
      s = new Set();
      this.sets.set(ns, s);
    } else if (this.shared.has(ns)) {
      s = new Set(s);
      this.sets.set(ns, s);
      this.shared.delete(ns);
    }
    return s;
  }
}
