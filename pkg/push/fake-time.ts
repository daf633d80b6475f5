import type { DebounceTimers } from './debouncer';

/** A manual clock with timers: time moves only in advance(); immediates run at the end of each "turn". */
export class FakeTime implements DebounceTimers {
  now = 0;
  private seq = 0;
  private timeouts = new Map<number, { at: number; fn: () => void }>();
  private immediates = new Map<number, () => void>();
  readonly clock = { now: () => this.now, monotonic: () => this.now };

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timeouts.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timeouts.delete(h as number);
  }
  setImmediate(fn: () => void): unknown {
    const id = ++this.seq;
    this.immediates.set(id, fn);
    return id;
  }
  clearImmediate(h: unknown): void {
    this.immediates.delete(h as number);
  }
  /** Ends the current event-loop turn: runs queued immediates (and any they queue). */
  endTurn(): void {
    while (this.immediates.size > 0) {
      const [id, fn] = this.immediates.entries().next().value as [number, () => void];
      this.immediates.delete(id);
      fn();
    }
  }
  /** Moves time forward by `ms`, firing due timers in order (each in its own turn). */
  advance(ms: number): void {
    this.endTurn();
    const end = this.now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timeouts) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timeouts.delete(next[0]);
      this.now = Math.max(this.now, next[1].at);
      next[1].fn();
      this.endTurn();
    }
    this.now = end;
  }
  get pendingTimers(): number {
    return this.timeouts.size + this.immediates.size;
  }
}
