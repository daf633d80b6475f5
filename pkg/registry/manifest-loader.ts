import type { Clock } from '../lifecycle';
import type { Logger } from '../log';
import { readBounded, readBoundedSync, type ListedFile, type ReadResult } from './dir-scan';
import type { ParseLimits } from './manifest';
import { isSmallManifest, parseSmallManifest } from './manifest-read';
import type { ParserHost, ParseOutcome } from './parser-host';
import type { ProblemCode, ProblemTable } from './source-health';
import type { LocalRegistry } from './local-registry';

export interface ManifestLoaderOptions {
  registry: LocalRegistry;
  log: Logger;
  clock: Clock;
  parser: ParserHost;
  limits: ParseLimits;
  /** Files larger than this are rejected whole. */
  maxBytes: number;
  /** How long a file that had objects must stay empty before its objects are withdrawn (ms). */
  emptyHoldMs: number;
  problems: ProblemTable;
  report: (rel: string, code: ProblemCode, reason: string) => void;
  /** The source closed: a parse that ends later is not applied. */
  closed: () => boolean;
}

/**
 * Reads, parses and applies one manifest file to its registry source ("file:<rel>"), and remembers which version
 * (stamp) of each file it processed. FileSource decides when a file is loaded.
 */
export class ManifestLoader {
  /** rel path -> when an empty version (that stamp) of a file that had objects was first read. */
  private readonly emptySeen = new Map<string, { stamp: string; at: number }>();
  /** rel path -> stamp of the version last processed (read and parsed, or rejected whole). */
  private readonly stamps = new Map<string, string>();

  constructor(private readonly o: ManifestLoaderOptions) {}

  /** Whether this version of the file was processed already. */
  isCurrent(rel: string, stamp: string): boolean {
    return this.stamps.get(rel) === stamp;
  }

  /** The files processed (rel paths). */
  known(): string[] {
    return [...this.stamps.keys()];
  }

  /** The file is gone: its versions are forgotten. */
  forget(rel: string): void {
    this.stamps.delete(rel);
    this.emptySeen.delete(rel);
  }

  /**
   * Reads and parses one file. Returns false when it could not be read (its
   * stamp is not recorded, so the next scan retries it). A small file is read
   * and parsed on the event loop (loadSmall), a larger one through the thread
   * pool and the parser worker.
   */
  async load(rel: string, file: ListedFile): Promise<boolean> {
    const inline = isSmallManifest(file) ? this.loadSmall(rel, file) : undefined;
    if (inline !== undefined) return inline;
    const read = await readBounded(file.readPath, this.o.maxBytes);
    const admitted = this.admit(rel, file, read);
    if (typeof admitted === 'boolean') return admitted;
    const outcome = await this.o.parser.parse(rel, admitted.text);
    if (!this.o.closed()) this.apply(rel, outcome);
    return true;
  }

  /**
   * load() without leaving the event loop, for a small file (isSmallManifest); undefined, with nothing done, when
   * its text grew past the inline size since it was listed (load() then takes the worker).
   */
  loadSmall(rel: string, file: ListedFile): boolean | undefined {
    const read = readBoundedSync(file.readPath, this.o.maxBytes);
    let outcome: ParseOutcome | undefined;
    if (read.kind === 'text' && !(outcome = parseSmallManifest(rel, read.text, this.o.limits))) return undefined;
    const admitted = this.admit(rel, file, read);
    if (typeof admitted === 'boolean') return admitted;
    this.apply(rel, outcome!);
    return true;
  }

  /**
   * What a read gives before parsing: false when the file could not be read, or is empty for less than a poll
   * interval (retried); true when it is settled without parsing (too big); else its text. Records its stamp.
   */
  private admit(rel: string, file: ListedFile, read: ReadResult): boolean | { text: string } {
    const id = `file:${rel}`;
    if (read.kind === 'failed') {
      this.o.report(rel, 'read', read.reason);
      return false;
    }
    if (read.kind === 'text' && read.text.trim() === '' && this.o.registry.sourceSize(id) > 0) {
      // A writer that truncates before writing (O_TRUNC: editors, shell redirection) shows an
      // empty file for a moment: emptiness withdraws the file's objects only once it held still
      // for a poll interval; until then it is a 'read' problem and the file is read again.
      const seen = this.emptySeen.get(rel);
      if (seen?.stamp !== file.stamp) this.emptySeen.set(rel, { stamp: file.stamp, at: this.o.clock.now() });
      if (!seen || seen.stamp !== file.stamp || this.o.clock.now() - seen.at < this.o.emptyHoldMs) {
        this.o.report(rel, 'read', 'empty; its objects stay until it is still empty a poll interval later');
        return false;
      }
    }
    this.emptySeen.delete(rel);
    this.stamps.set(rel, file.stamp);
    if (read.kind === 'too-big') {
      const reason = `file rejected: larger than ${this.o.maxBytes} bytes (${read.size})`;
      this.o.report(rel, 'limit', reason);
      this.o.registry.reportParseErrors(id, [{ origin: rel, reason }]);
      return true;
    }
    return { text: read.text };
  }

  /** Applies a parse's outcome to the file's registry source. */
  private apply(rel: string, outcome: ParseOutcome): void {
    const id = `file:${rel}`;
    if (!outcome.ok) {
      this.o.report(rel, 'limit', outcome.reason);
      this.o.registry.reportParseErrors(id, [{ origin: rel, reason: outcome.reason }]);
      return;
    }
    const parsed = outcome.parsed;
    this.o.registry.reportParseErrors(id, parsed.errors);
    if (parsed.errors.length === 0) {
      this.o.problems.clear(rel);
      this.o.registry.replaceSource(id, parsed.objects);
    } else {
      // A document that does not parse could have been any object: withdraw
      // nothing until the file parses again, only apply the valid documents.
      const limit = parsed.errors.some((e) => e.origin === rel);
      const first = parsed.errors.slice(0, 3).map((e) => `${e.origin}: ${e.reason}`);
      this.o.report(rel, limit ? 'limit' : 'parse', first.join('; '));
      this.o.registry.applyEvents(
        id,
        parsed.objects.map((o) => ({ type: 'upsert' as const, obj: o.obj, origin: o.origin })),
      );
    }
    // debug, not info: under churn every change is a file load, and one line each was ~8 % of the daemon's CPU
    // (churn bench, 100 changes/s); problems are reported above at warn whatever the level.
    this.o.log.debug(
      { file: rel, objects: parsed.objects.length, parseErrors: parsed.errors.length },
      'manifest file loaded',
    );
  }
}
