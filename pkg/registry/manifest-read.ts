import type { ListedFile } from './dir-scan';
import { parseManifest, type ParseLimits } from './manifest';
import type { ParseOutcome } from './parser-host';

/**
 * A file this small is read synchronously and parsed on the event loop (under
 * the same limits): at most ~4,000 YAML nodes, a few ms of parse, while the
 * worker's round trips (thread pool reads, postMessage both ways, each waiting
 * for a loop wake-up) added ~50 ms to a one-pod edit's file-write -> ztunnel
 * latency on this 2-core host (bench churn p50 64 ms vs 8 ms). Larger files
 * go to the parser worker.
 */
const INLINE_MAX_BYTES = 16 * 1024;

/** Whether `file` is read (readBoundedSync) and parsed (parseSmallManifest) on the event loop. */
export function isSmallManifest(file: ListedFile): boolean {
  return file.size <= INLINE_MAX_BYTES;
}

/**
 * Parses a small manifest's text on the event loop; undefined when the text grew past the inline size since the
 * file was listed (it then goes to the parser worker).
 */
export function parseSmallManifest(rel: string, text: string, limits: ParseLimits): ParseOutcome | undefined {
  if (text.length > INLINE_MAX_BYTES) return undefined;
  try {
    return { ok: true, parsed: parseManifest(text, rel, limits) };
  } catch (e) {
    return { ok: false, reason: `parser failed: ${(e as Error).message}` };
  }
}
