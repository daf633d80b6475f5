import type { Logger } from '../log';

/**
 * Every way the gateway turns a caller away, with the HTTP status the outer
 * CONNECT stream gets (0: no status, the connection itself is closed, as
 * ztunnel does on a TLS or trust-domain failure). Statuses follow ztunnel's
 * inbound (src/proxy/inbound.rs; docs/design/hbone.md, Inbound statuses): 400
 * for a method other than CONNECT or an authority that is not hostname:port,
 * 503 for an unknown hostname or port and a failed dial. The client treats
 * every non-200 alike.
 */
export const REFUSALS = {
  tls_handshake: 0,
  handshake_timeout: 0,
  untrusted_caller: 0,
  max_connections: 0,
  session_idle: 0,
  method_not_allowed: 400,
  bad_authority: 400,
  ip_authority: 400,
  unknown_host: 503,
  unknown_port: 503,
  not_exported: 503,
  no_healthy_endpoint: 503,
  max_tunnels: 503,
  draining: 503,
  dial_failed: 503,
} as const;

export type RefusalReason = keyof typeof REFUSALS;
export const REFUSAL_REASONS = Object.keys(REFUSALS) as RefusalReason[];

/** Stable error code of a refusal in logs: `eastwest.<reason>`. */
export const refusalCode = (r: RefusalReason): string => `eastwest.${r}`;

/**
 * At most `perSecond` refusal lines per second; the rest are counted and the
 * count logged when the next window opens (the metric counts every refusal).
 */
export class RefusalLog {
  private windowStart = 0;
  private logged = 0;
  private suppressed = 0;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly perSecond = 20,
  ) {}

  refused(reason: RefusalReason, fields: Record<string, unknown>): void {
    const t = this.now();
    if (t - this.windowStart >= 1000) {
      if (this.suppressed > 0) this.log.warn({ suppressed: this.suppressed }, 'refusal log lines suppressed');
      this.windowStart = t;
      this.logged = 0;
      this.suppressed = 0;
    }
    if (this.logged++ < this.perSecond) this.log.warn({ code: refusalCode(reason), ...fields }, 'refused');
    else this.suppressed++;
  }
}
