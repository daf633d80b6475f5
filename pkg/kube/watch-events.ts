import { KubeApiError } from './client';
import { collectionPath, slim, type KindSpec } from './kinds';

type Obj = Record<string, unknown>;

/** A watch ERROR event saying the resourceVersion is too old (410 / Expired / Gone): the reflector relists. */
export class GoneError extends Error {}

/** One decoded chunk of watch lines: what to hand the sink, where the resourceVersion moved, and why it stopped. */
export interface DecodedWatchChunk {
  events: { type: 'upsert' | 'delete'; obj: Obj }[];
  /** The watch event type (ADDED/MODIFIED/DELETED) of each entry in events, for counting. */
  types: string[];
  /** Types of events that were ignored as unknown, in order. */
  unknownTypes: (string | undefined)[];
  /** The resourceVersion after the last decoded event or bookmark (unchanged if none carried one). */
  rv: string | undefined;
  /** Set when a line could not be decoded or was an ERROR event; lines after it were not read. */
  error?: Error;
}

/** Decodes one chunk of watch lines (pure): events up to the first bad line or ERROR event, and the new rv. */
export function decodeWatchLines(k: KindSpec, lines: string[], rv: string | undefined): DecodedWatchChunk {
  const out: DecodedWatchChunk = { events: [], types: [], unknownTypes: [], rv };
  for (const line of lines) {
    let ev: { type?: string; object?: Obj };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      out.error = new KubeApiError(`watch ${k.kind}: undecodable event`, 0, 'GET', collectionPath(k));
      return out;
    }
    const obj = ev.object ?? {};
    const objRv = (obj.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    switch (ev.type) {
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED':
        out.events.push({ type: ev.type === 'DELETED' ? 'delete' : 'upsert', obj: slim(k, obj) });
        out.types.push(ev.type);
        if (objRv) out.rv = objRv;
        break;
      case 'BOOKMARK':
        if (objRv) out.rv = objRv;
        break;
      case 'ERROR': {
        const st = obj as { code?: number; reason?: string; message?: string };
        if (st.code === 410 || st.reason === 'Expired' || st.reason === 'Gone')
          out.error = new GoneError(st.message ?? 'resourceVersion too old');
        else
          out.error = new KubeApiError(
            `watch ${k.kind}: ${st.reason ?? ''} ${st.message ?? ''}`.trim(),
            st.code ?? 500,
            'GET',
            collectionPath(k),
            st.reason,
          );
        return out;
      }
      default:
        out.unknownTypes.push(ev.type);
    }
  }
  return out;
}
