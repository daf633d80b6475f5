import type { TypeState } from './diff';
import type { StreamStatus, TypeStatus } from './status';

/** What a stream knows about itself, as explicit input for its /debug/syncz view. */
export type StreamStatusInput = Omit<StreamStatus, 'pendingCommits' | 'types'> & {
  /** The cache's current seq. */
  cacheSeq: number;
  types: Iterable<TypeState>;
  /** Wall minus monotonic clock now: turns the monotonic send times into wall times. */
  wallOffset: number;
  /** A nonce number as the stream sent it ('' for 0: none). */
  nonceText: (n: number) => string;
};

/** Builds a stream's read-only status (pure): per-type protocol state plus commits not yet sent. */
export function buildStreamStatus(s: StreamStatusInput): StreamStatus {
  let minSeq = s.cacheSeq;
  const types: TypeStatus[] = [];
  for (const st of s.types) {
    const sentSeq = st.cursor?.seq ?? 0;
    if (sentSeq < minSeq) minSeq = sentSeq;
    types.push({
      typeUrl: st.typeUrl,
      wildcard: st.sub.wildcard,
      explicitNames: st.sub.explicitNames.size,
      lastNonceSent: s.nonceText(st.nonceSent),
      lastNonceAcked: s.nonceText(st.nonceAcked),
      lastSentAt: st.sentMono === undefined ? undefined : Math.round(st.sentMono + s.wallOffset),
      lastAckedAt: st.ackedAt,
      lastNack: st.lastNack,
      responses: st.responses,
      acks: st.acks,
      nacks: st.nacks,
      sentSeq,
      // Caught up (latest nonce ACKed): the client holds everything up to the cursor.
      ackedSeq: st.nonceSent === st.nonceAcked ? sentSeq : (st.ackedSeq ?? 0),
    });
  }
  return {
    id: s.id,
    nodeId: s.nodeId,
    node: s.node,
    identity: s.identity,
    connectedAt: s.connectedAt,
    pendingWrite: s.pendingWrite,
    pendingCommits: s.cacheSeq - minSeq,
    types,
  };
}
