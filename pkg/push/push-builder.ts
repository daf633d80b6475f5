import type { Encoder } from './encoder';
import type { PushBuildResult } from './pusher';
import type { ResourceDelta } from './resource-delta';

/** What one generator returns for one build. */
export interface Generation {
  /** One delta per type the generator owns, in push order (a type it owns but did not change: an empty one). */
  readonly deltas: readonly ResourceDelta[];
  /** Earliest origin stamp (wall-clock ms) of the changes in this output (federated data). */
  readonly originAt?: number;
}

/**
 * The generators of one push, chained: `local` reads the build's input, `merge` (when present) reads the input
 * and `local`'s output and its deltas are the ones pushed. Each is told `full`: true for the first build, after a
 * build that threw (its output may not have reached the cache) and when the context key changed; see
 * ResourceDelta for what a full build returns. A build with `full` false tells each generator that its previous
 * output was committed.
 */
export interface PushBuilderOptions<In, Local extends Generation> {
  encoder: Encoder;
  /** The inputs of one build, read once at its start (e.g. the registry snapshot and the changes since the last). */
  input: () => In;
  /** A key of what every output depends on (the mesh context): a change asks every generator for a full build. */
  contextKey: (input: In) => string;
  local: (input: In, full: boolean) => Local;
  merge?: (input: In, local: Local, full: boolean) => Generation;
}

/**
 * The pusher's build step: runs the generators and encodes their deltas into cache commits. It owns the one
 * thing generators cannot know: whether their previous output reached the cache.
 */
export class PushBuilder<In, Local extends Generation> {
  private lastKey?: string;
  /** A build started and has not returned yet (still set at the next build: it threw). */
  private open = false;
  /** Builds that asked the generators for a full output (first, after a throw, context changed). */
  fullBuilds = 0;

  constructor(private readonly o: PushBuilderOptions<In, Local>) {}

  build(): PushBuildResult {
    const input = this.o.input();
    const key = this.o.contextKey(input);
    const full = this.open || key !== this.lastKey;
    this.lastKey = key;
    this.open = true;
    if (full) this.fullBuilds++;
    const local = this.o.local(input, full);
    const out = this.o.merge ? this.o.merge(input, local, full) : local;
    const commits = out.deltas.map((d) => this.o.encoder.encode(d));
    this.open = false;
    return out.originAt === undefined ? { commits } : { commits, originAt: out.originAt };
  }
}
