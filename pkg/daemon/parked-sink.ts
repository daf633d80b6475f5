import type { RegistrySink } from '../kube';
import { ParkedWork, type IngestGate } from '../registry';

type Events = Parameters<RegistrySink['applyEvents']>[1];

/**
 * The Kubernetes source's way into the registry when pushes are gated: watch events are parked with the gate (the
 * pusher, through GateRelay) and applied in arrival order when it drains them, right before its next snapshot. Under
 * churn the events of one held push are then applied back to back, which costs a fraction of applying each as it
 * arrives (bench scenario `ingest`, "apply alone": 88 µs an event 10 ms apart, 47 µs in groups of 4; docs/design/
 * push-budget.md). A list (replaceSource) and a kind's first complete list (markLoaded) apply what is parked first,
 * so the registry sees every kind's changes in the order the reflectors delivered them. A gate that has not drained
 * within `waitMs` is not waited for.
 */
export class ParkedSink implements RegistrySink {
  private parked: [string, Events][] = [];
  private readonly work: ParkedWork;

  constructor(
    private readonly real: RegistrySink,
    gate: IngestGate,
    waitMs?: number,
  ) {
    this.work = new ParkedWork(gate, () => this.applyParked(), waitMs);
  }

  registerSource(sourceId: string): void {
    this.real.registerSource(sourceId);
  }

  replaceSource(sourceId: string, objects: Parameters<RegistrySink['replaceSource']>[1]): void {
    this.work.drain();
    this.real.replaceSource(sourceId, objects);
  }

  applyEvents(sourceId: string, events: Events): void {
    if (events.length === 0) return;
    this.parked.push([sourceId, events]);
    // Every chunk is a change for the debounce (the push budget's probe counts them).
    this.work.parked();
  }

  markLoaded(sourceId: string): void {
    this.work.drain();
    this.real.markLoaded(sourceId);
  }

  /** Applies the parked events in arrival order. */
  private applyParked(): void {
    if (this.parked.length === 0) return;
    const list = this.parked;
    this.parked = [];
    for (const [id, events] of list) this.real.applyEvents(id, events);
  }
}
