import * as net from 'node:net';

/**
 * Health of peers' gateways as seen from this daemon: every PROBE_INTERVAL_MS
 * each gateway address gets a TCP connect to its HBONE port (15008: the data
 * plane) and its xds-tls port (the peer daemon behind it), each bounded by
 * PROBE_TIMEOUT_MS. A probe passes when both connect.
 *
 * Hysteresis keeps a lossy path from flapping: a healthy gateway is withdrawn
 * when FALL_OF of the last WINDOW probes failed, an unhealthy one restored
 * after RISE consecutive passes. With 10 % independent probe loss a healthy
 * gateway is withdrawn with probability sum_{k>=6} C(8,k) 0.1^k 0.9^(8-k)
 * ≈ 2.3e-5 per probe (about once in 6 h at 2 probes/s); a dead one is withdrawn
 * FALL_OF probes (3 s) after it died, and a recovered one restored RISE probes
 * (1.5 s) after it came back — both inside the 5 s the issue asks for.
 *
 * A gateway starts healthy: a new declaration is used at once, not after
 * RISE probes. Owned by the peering layer (one per daemon); `onChange` fires
 * after a tick in which any gateway changed state.
 */
export const PROBE_INTERVAL_MS = 500;
export const PROBE_TIMEOUT_MS = 400;
export const WINDOW = 8;
export const FALL_OF = 6;
export const RISE = 3;

export interface ProbeTarget {
  /** PeerGateway.id */
  id: string;
  host: string;
  ports: readonly number[];
}

/** One probe of one target: resolves true when every port accepted a connection in time. */
export type Probe = (host: string, ports: readonly number[], timeoutMs: number) => Promise<boolean>;

export const tcpProbe: Probe = async (host, ports, timeoutMs) => {
  const one = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const s = net.connect({ host, port });
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        s.destroy();
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      s.once('connect', () => done(true));
      s.once('error', () => done(false));
    });
  return (await Promise.all(ports.map(one))).every(Boolean);
};

interface State {
  target: ProbeTarget;
  healthy: boolean;
  /** Last WINDOW results, newest last (true = passed). */
  window: boolean[];
  streak: number;
  inFlight: boolean;
  changedAt: number;
}

export interface GatewayHealthOptions {
  onChange: () => void;
  now: () => number;
  probe?: Probe;
  intervalMs?: number;
  timeoutMs?: number;
}

export class GatewayHealth {
  private readonly states = new Map<string, State>();
  private timer?: NodeJS.Timeout;
  private closed = false;
  private readonly probe: Probe;

  constructor(private readonly o: GatewayHealthOptions) {
    this.probe = o.probe ?? tcpProbe;
  }

  /** Replaces the probed set (declared gateways); kept targets keep their state. */
  setTargets(targets: readonly ProbeTarget[]): void {
    const want = new Map(targets.map((t) => [t.id, t]));
    for (const id of this.states.keys()) if (!want.has(id)) this.states.delete(id);
    for (const [id, t] of want) {
      const s = this.states.get(id);
      if (s && s.target.host === t.host && s.target.ports.join() === t.ports.join()) continue;
      const fresh: State = { target: t, healthy: true, window: [], streak: 0, inFlight: false, changedAt: 0 };
      fresh.changedAt = this.o.now();
      this.states.set(id, fresh);
    }
    if (this.states.size && !this.timer && !this.closed) {
      this.timer = setInterval(() => this.tick(), this.o.intervalMs ?? PROBE_INTERVAL_MS);
      this.timer.unref?.();
    } else if (!this.states.size && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Unknown ids (not probed: flat or NodePort peers) count as healthy. */
  healthy(id: string): boolean {
    return this.states.get(id)?.healthy ?? true;
  }

  /** When the gateway last changed state (ms), if probed. */
  since(id: string): number | undefined {
    return this.states.get(id)?.changedAt;
  }

  private tick(): void {
    for (const s of this.states.values()) {
      if (s.inFlight) continue; // bounded: one probe per target at a time
      s.inFlight = true;
      this.probe(s.target.host, s.target.ports, this.o.timeoutMs ?? PROBE_TIMEOUT_MS).then(
        (ok) => this.record(s, ok),
        () => this.record(s, false),
      );
    }
  }

  private record(s: State, ok: boolean): void {
    s.inFlight = false;
    if (this.closed || this.states.get(s.target.id) !== s) return;
    s.window.push(ok);
    if (s.window.length > WINDOW) s.window.shift();
    s.streak = ok ? s.streak + 1 : 0;
    const failed = s.window.filter((x) => !x).length;
    const next = s.healthy ? failed < FALL_OF : s.streak >= RISE;
    if (next === s.healthy) return;
    s.healthy = next;
    s.changedAt = this.o.now();
    // A restored gateway starts from a clean window: old failures do not count towards the next fall.
    if (next) s.window = [];
    this.o.onChange();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.states.clear();
  }
}
