import type { PeeringContext } from './contract';
import type { DataPlaneState } from './status';

type Plane = ReturnType<NonNullable<PeeringContext['dataPlane']>>;
/** The data-plane view, read at most once per use (it walks every xDS stream). */
export type PlaneView = () => Plane | undefined;

/** One link's programming record (a peer's, replaced with the link). */
export class LinkProgramming {
  /** Syncs of this link so far. */
  syncs = 0;
  /** The cache seq before the push that first carried sync `gen`. */
  mark?: { gen: number; seq: number };
  /** Set once local ztunnels ACKed a push carrying this link's synced data. */
  programmed = false;
  /** The state its last coalesced check saw (the layer stamps conditions only when it moves). */
  checked?: DataPlaneState;
}

/**
 * DataPlaneProgrammed's input (docs/admin.md): a link is programmed once the
 * push that followed its sync was ACKed by every connected ztunnel, i.e. the
 * ztunnels' ACKed seq reaches the commit after the mark (or the mark itself
 * when that build committed nothing). Latched per link: later pushes are
 * ordinary updates. ACKs are coalesced into one check per CHECK_MS, which
 * walks only the links still waiting.
 */
export class ProgrammingTracker {
  static readonly CHECK_MS = 50;
  private readonly waiting = new Set<LinkProgramming>();
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly ctx: Pick<PeeringContext, 'dataPlane' | 'committedSeq'>,
    /** Stamps the conditions of links still waiting (called from the coalesced check). */
    private readonly onCheck: (links: ReadonlySet<LinkProgramming>, plane: PlaneView) => void,
  ) {}

  /** A build is about to carry every synced link's data: marks links whose latest sync has no mark yet. */
  noteBuild(links: Iterable<LinkProgramming>): void {
    const seq = this.ctx.committedSeq?.();
    if (seq === undefined) return;
    for (const l of links) {
      if (l.syncs === 0 || l.mark?.gen === l.syncs) continue;
      l.mark = { gen: l.syncs, seq };
      if (!l.programmed) this.waiting.add(l);
    }
    this.schedule();
  }

  state(l: LinkProgramming, plane: PlaneView = this.planeOnce()): DataPlaneState {
    if (l.programmed) return 'acked';
    if (!l.mark) return 'never-synced';
    const dp = plane();
    if (!dp) return 'acked'; // a daemon that reports no data plane: nothing to wait for
    if (dp.ackedSeq === undefined) return 'no-ztunnels';
    const need = dp.seq > l.mark.seq ? l.mark.seq + 1 : l.mark.seq;
    if (dp.ackedSeq < need) return 'waiting';
    l.programmed = true;
    this.waiting.delete(l);
    return 'acked';
  }

  forget(l: LinkProgramming): void {
    this.waiting.delete(l);
  }

  planeOnce(): PlaneView {
    let v: Plane | undefined;
    return () => (v ??= this.ctx.dataPlane?.());
  }

  /** A local ztunnel ACKed something: O(1) unless a link is waiting. */
  onAck(): void {
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed || this.waiting.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.onCheck(new Set(this.waiting), this.planeOnce());
    }, ProgrammingTracker.CHECK_MS);
    this.timer.unref?.();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.waiting.clear();
  }
}
