import { readBounded, readBoundedSync, type ListedFile, type ReadResult } from './dir-scan';
import { parseManifest, type ParseLimits } from './manifest';
import type { ParserHost, ParseOutcome } from './parser-host';

/**
 * A file this small is read synchronously and parsed on the event loop (under
 * the same limits): at most ~4,000 YAML nodes, a few ms of parse, while the
 * worker's round trips (thread pool reads, postMessage both ways, each waiting
 * for a loop wake-up) added ~50 ms to a one-pod edit's file-write -> ztunnel
 * latency on this 2-core host (bench churn p50 64 ms vs 8 ms). Larger files
 * go to the parser worker.
 */
const INLINE_MAX_BYTES = 16 * 1024;

/** Whether `file` is read (readManifest) and parsed (parseSmallManifest) on the event loop. */
export function isSmallManifest(file: ListedFile): boolean {
  return file.size <= INLINE_MAX_BYTES;
}

/** A manifest's text, read in place when it is small, else through the thread pool; never past `maxBytes`. */
export function readManifest(file: ListedFile, maxBytes: number): ReadResult | Promise<ReadResult> {
  return isSmallManifest(file) ? readBoundedSync(file.readPath, maxBytes) : readBounded(file.readPath, maxBytes);
}

/** Parses a manifest's text: on the event loop when it is small, else in the parser worker (same limits). */
export async function parseManifestText(
  rel: string,
  file: ListedFile,
  text: string,
  limits: ParseLimits,
  parser: ParserHost,
): Promise<ParseOutcome> {
  if (!isSmallManifest(file)) return parser.parse(rel, text);
  return parseSmallManifest(rel, text, limits) ?? parser.parse(rel, text);
}

/**
 * Parses a small manifest's text on the event loop; undefined when the text grew past the inline size since the
 * file was listed (it then goes to the parser worker, parseManifestText).
 */
export function parseSmallManifest(rel: string, text: string, limits: ParseLimits): ParseOutcome | undefined {
  if (text.length > INLINE_MAX_BYTES) return undefined;
  try {
    return { ok: true, parsed: parseManifest(text, rel, limits) };
  } catch (e) {
    return { ok: false, reason: `parser failed: ${(e as Error).message}` };
  }
}
