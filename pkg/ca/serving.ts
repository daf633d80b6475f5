import { EventEmitter } from 'node:events';
import { Backoff, systemClock } from '../lifecycle';
import type { Clock, Component } from '../lifecycle';
import type { Logger } from '../log';
import type { Authority, ServingCert, ServingCertRequest } from './authority';

export interface ServingIdentityOptions {
  authority: Authority;
  request: ServingCertRequest;
  /** Renew at a random point in [min, max] of the lifetime; default 0.5–0.8. */
  renewFraction?: { min: number; max: number };
  clock?: Clock;
  random?: () => number;
  logger: Logger;
}

/** setTimeout's delay is a signed 32-bit ms count; longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Owns the daemon's serving certificate. Re-issues it part-way through its
 * lifetime and emits 'rotated' with the new cert so TLS contexts can swap
 * credentials for new handshakes while existing streams keep running.
 */
export class ServingIdentity extends EventEmitter implements Component {
  private cert: ServingCert | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly logger: Logger;
  private readonly backoff: Backoff;

  constructor(private readonly opts: ServingIdentityOptions) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.logger = opts.logger.child({ component: 'serving-identity' });
    this.backoff = new Backoff({ initialMs: 1000, maxMs: 60_000, random: this.random });
  }

  /** Issues the first certificate synchronously so listeners can be created right after start(). */
  async start(): Promise<void> {
    if (this.cert) return;
    this.cert = this.opts.authority.issueServingCert(this.opts.request);
    this.schedule();
  }

  current(): ServingCert {
    if (!this.cert) throw new Error('ServingIdentity not started');
    return this.cert;
  }

  /** When the next renewal is due (ms since epoch), for tests and debug output. */
  renewAt(): number | undefined {
    return this.nextAt;
  }

  private nextAt: number | undefined;

  private schedule(delayOverride?: number): void {
    if (this.closed || !this.cert) return;
    const { min, max } = this.opts.renewFraction ?? { min: 0.5, max: 0.8 };
    const life = this.cert.notAfter - this.cert.notBefore;
    const at =
      delayOverride !== undefined
        ? this.clock.now() + delayOverride
        : this.cert.notBefore + life * (min + (max - min) * this.random());
    // Never spin: even a cert already past its renewal point waits a second.
    this.nextAt = Math.max(at, this.clock.now() + 1000);
    this.arm();
  }

  private arm(): void {
    if (this.closed || this.nextAt === undefined) return;
    const delay = Math.max(0, this.nextAt - this.clock.now());
    this.timer = setTimeout(() => (delay > MAX_TIMER_MS ? this.arm() : this.rotate()), Math.min(delay, MAX_TIMER_MS));
    this.timer.unref?.();
  }

  /** Re-issues now. Failures keep the current (still valid) cert and retry with backoff. */
  rotate(): void {
    if (this.closed) return;
    try {
      this.cert = this.opts.authority.issueServingCert(this.opts.request);
      this.backoff.reset();
      this.emit('rotated', this.cert);
      this.schedule();
    } catch (e) {
      const delay = this.backoff.next();
      this.logger.error({ err: (e as Error).message, retryInMs: delay }, 'serving certificate renewal failed');
      this.schedule(delay);
    }
  }

  async close(): Promise<void> {
    this.destroy();
  }

  destroy(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
