import type { NodeInfo } from '../wire';

/** Per-type protocol state, exposed read-only for /debug/syncz. */
export interface TypeStatus {
  typeUrl: string;
  wildcard: boolean;
  explicitNames: number;
  lastNonceSent: string;
  lastNonceAcked: string;
  lastSentAt?: number;
  lastAckedAt?: number;
  lastNack?: { nonce: string; message: string; at: number };
  responses: number;
  acks: number;
  nacks: number;
  /** Cache seq this type has been sent up to. */
  sentSeq: number;
  /** Cache seq the client has ACKed up to (what it is known to hold). */
  ackedSeq: number;
}

export interface StreamStatus {
  id: string;
  nodeId: string;
  node?: NodeInfo;
  identity?: unknown;
  connectedAt: number;
  pendingWrite: boolean;
  /** Commits not yet sent to this stream (cache seq minus the lowest sent seq). */
  pendingCommits: number;
  types: TypeStatus[];
}
