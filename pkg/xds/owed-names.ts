/**
 * Names a stream owes an answer for (docs/design/delta-xds-rules.md rule 9: every subscribed name, even a
 * repeated one), kept as the requests' own name lists: recording a request
 * costs no per-name work, and a name listed twice is answered twice at worst
 * (within one response it is answered once: the response deduplicates).
 * "*" entries are skipped when taken. Written only by its stream.
 */
export class OwedNames {
  private lists: (readonly string[])[] = [];
  /** Position in lists[0]. */
  private at = 0;
  private count = 0;

  /** Entries not yet taken (repeats and "*" included). */
  get size(): number {
    return this.count;
  }

  /** Records a request's list as it is (the list must not change afterwards). */
  push(list: readonly string[]): void {
    if (list.length === 0) return;
    this.lists.push(list);
    this.count += list.length;
  }

  clear(): void {
    this.lists = [];
    this.at = 0;
    this.count = 0;
  }

  /** Hands up to `max` entries, oldest first, to `fn` ("*" is consumed but not handed on). */
  take(max: number, fn: (name: string) => void): void {
    let left = max;
    while (left > 0 && this.lists.length > 0) {
      const list = this.lists[0]!;
      const end = Math.min(list.length, this.at + left);
      for (let i = this.at; i < end; i++) {
        const n = list[i]!;
        if (n !== '*') fn(n);
      }
      left -= end - this.at;
      this.count -= end - this.at;
      if (end === list.length) {
        this.lists.shift();
        this.at = 0;
      } else {
        this.at = end;
      }
    }
  }
}
