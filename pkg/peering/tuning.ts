import type { Probe } from './link';

/** Test/bench knobs (not configuration). */
export interface PeeringTuning {
  backoff?: { initialMs: number; maxMs: number };
  saveDelayMs?: number;
  /** Peer links dialling or in their first sync at once (default DIAL_CONCURRENCY). */
  dialConcurrency?: number;
  /** A dial gives its admission slot back after this long even if the peer never answered (default DIAL_HOLD_MS). */
  dialHoldMs?: number;
  /** Gateway health probe (default: TCP connect to HBONE and xds-tls ports) and its interval. */
  probe?: Probe;
  probeIntervalMs?: number;
}

/**
 * Bounded first dials/syncs. 64 concurrent handshakes keep both cores busy on
 * loopback and, at ~4 round trips per first sync, bring 2,000 WAN peers at
 * 100 ms RTT up in ~13 s; the bound is what keeps start-up from building one
 * push of every peer at once.
 */
export const DIAL_CONCURRENCY = 64;
/** Longer than a healthy first sync, short enough that a silent peer does not hold a slot for long. */
export const DIAL_HOLD_MS = 10_000;
