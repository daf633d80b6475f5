import { Subscription } from './subscription';
import { OwedNames } from './owed-names';
import type { TypeState } from './diff';

/**
 * A stream's per-type state: a fresh entry for a type's first request, and the questions the stream asks across
 * all its types after each request or write (O(types) each).
 */
export function newTypeState(typeUrl: string, label: string, pushes: TypeState['pushes']): TypeState {
  return {
    typeUrl,
    sub: new Subscription(),
    cursor: null,
    initial: null,
    force: new OwedNames(),
    unsubNotify: new Set(),
    held: null,
    mustRespond: true,
    nonceSent: 0,
    nonceAcked: 0,
    head: null,
    responses: 0,
    acks: 0,
    nacks: 0,
    label,
    pushes,
  };
}

/** Explicit names held across the stream's types. */
export function subscribedNames(types: Iterable<TypeState>): number {
  let n = 0;
  for (const st of types) n += st.sub.explicitNames.size;
  return n;
}

/** Is there anything a flush could send now, with the cache at `seq`? */
export function owesResponse(types: Iterable<TypeState>, seq: number): boolean {
  for (const st of types) {
    if (
      st.cursor === null ||
      st.cursor.seq !== seq ||
      st.cursor.expired ||
      st.mustRespond ||
      st.force.size > 0 ||
      st.unsubNotify.size > 0
    )
      return true;
  }
  return false;
}

/** Are names still owed from a large subscription (answered ANSWER_SLICE per response)? */
export function owesSlices(types: Iterable<TypeState>): boolean {
  for (const st of types) if (st.force.size > 0 || st.unsubNotify.size > 0) return true;
  return false;
}
