/**
 * The safety scan's share of wall time is kept under 1/SCAN_DUTY_FACTOR: the next one starts no sooner than this
 * many times the last full scan's duration after it. Measured: listing and stat-ing 10,000 manifest files costs
 * ~450 ms of CPU on this project's 2-core machine, so a fixed 1 s period would spend ~45 % of a core on it.
 */
const SCAN_DUTY_FACTOR = 20;

/** How long after a full scan that took `lastScanMs` the next safety scan starts. */
export function safetyScanDelay(pollMs: number, lastScanMs: number): number {
  return Math.max(pollMs, SCAN_DUTY_FACTOR * lastScanMs);
}
