import { Writable } from 'node:stream';
import { createRootLogger, type Logger } from '../../log';
import type { RegistrySink } from '../reflector';

type Obj = Record<string, unknown>;

export interface SinkChange {
  sourceId: string;
  type: 'upsert' | 'delete';
  key: string;
  via: 'replace' | 'event';
}

const keyOf = (o: Obj) => {
  const m = (o.metadata ?? {}) as { namespace?: string; name?: string };
  return `${m.namespace ?? ''}/${m.name ?? ''}`;
};

/**
 * A stand-in for the registry store with the same diffing contract:
 * replaceSource emits only real differences (by resourceVersion), events
 * apply as given. `changes` is the ordered stream translation would see.
 */
export class RecordingSink implements RegistrySink {
  readonly state = new Map<string, Map<string, Obj>>();
  readonly changes: SinkChange[] = [];
  readonly loaded = new Set<string>();
  readonly registered = new Set<string>();
  replaceCalls = 0;
  eventBatches = 0;

  registerSource(id: string): void {
    this.registered.add(id);
    if (!this.state.has(id)) this.state.set(id, new Map());
  }

  replaceSource(id: string, objects: { obj: Obj }[]): void {
    this.replaceCalls++;
    const cur = this.state.get(id) ?? new Map<string, Obj>();
    const next = new Map(objects.map((o) => [keyOf(o.obj), o.obj]));
    for (const [k, o] of next) {
      const prev = cur.get(k);
      if (!prev || JSON.stringify(prev) !== JSON.stringify(o))
        this.changes.push({ sourceId: id, type: 'upsert', key: k, via: 'replace' });
    }
    for (const k of cur.keys())
      if (!next.has(k)) this.changes.push({ sourceId: id, type: 'delete', key: k, via: 'replace' });
    this.state.set(id, next);
  }

  applyEvents(id: string, events: { type: 'upsert' | 'delete'; obj: Obj }[]): void {
    this.eventBatches++;
    const cur = this.state.get(id) ?? new Map<string, Obj>();
    for (const e of events) {
      const k = keyOf(e.obj);
      if (e.type === 'delete') cur.delete(k);
      else cur.set(k, e.obj);
      this.changes.push({ sourceId: id, type: e.type, key: k, via: 'event' });
    }
    this.state.set(id, cur);
  }

  markLoaded(id: string): void {
    this.loaded.add(id);
  }

  keys(id: string): string[] {
    return [...(this.state.get(id)?.keys() ?? [])].sort();
  }

  get(id: string, key: string): Obj | undefined {
    return this.state.get(id)?.get(key);
  }
}

/** A real pino logger whose JSON lines are kept for assertions. */
export function captureLogger(level = 'debug'): { logger: Logger; lines: () => Obj[] } {
  const out: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = createRootLogger({ level, destination: dest });
  return { logger, lines: () => out.map((l) => JSON.parse(l) as Obj) };
}
