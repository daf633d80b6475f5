import type { DeltaRequest } from '../wire';
import { LogLimiter, type Logger } from '../log';
import type { Clock } from '../lifecycle';
import type { TypeState } from './diff';
import type { XdsMetrics } from './metrics';

/** How much of a NACK's error_detail goes into one log line (the debug view keeps 4 KiB). */
const NACK_LOG_CHARS = 512;

export interface ReplyRecorderOptions {
  log: Logger;
  clock: Clock;
  metrics: XdsMetrics;
  /** NACK warnings logged per second (all are counted). */
  nackLogsPerSecond: number;
  /** Called when the latest response of a type is ACKed. */
  onAck: (typeUrl: string, latencyMs: number | undefined, originAt: number | undefined) => void;
  /** Whether a response_nonce is the stream's nonce number n (ResponseWriter.isNonce; false for 0). */
  isNonce: (text: string, n: number) => boolean;
}

/** One stream's ACK/NACK accounting: a request's response_nonce and error_detail against a type's state. */
export class ReplyRecorder {
  private readonly nackLog: LogLimiter;

  constructor(private readonly o: ReplyRecorderOptions) {
    this.nackLog = new LogLimiter(o.nackLogsPerSecond, () => o.clock.monotonic());
  }

  /** Records the reply `req` carries (it has a response_nonce) on `st`, whose metrics label is `label`. */
  record(st: TypeState, req: DeltaRequest, label: string): void {
    const now = this.o.clock.monotonic();
    if (req.errorDetail) {
      // Rule 17: a NACK is detected by error_detail's presence; ztunnel leaves code 0.
      st.nacks++;
      st.lastNack = {
        nonce: req.responseNonce,
        message: req.errorDetail.message.slice(0, 4096),
        at: this.o.clock.now(),
      };
      this.o.metrics.rejects.inc({ type: label });
      const line = this.nackLog.take();
      if (line) {
        const error = st.lastNack.message.slice(0, NACK_LOG_CHARS);
        this.o.log.warn({ typeUrl: req.typeUrl, nonce: req.responseNonce.slice(0, 64), error, ...line }, 'xDS NACK');
      } else {
        this.o.metrics.logSuppressed.inc({ kind: 'nack' });
      }
    } else if (this.o.isNonce(req.responseNonce, st.nonceSent)) {
      st.acks++;
      st.nonceAcked = st.nonceSent;
      st.ackedAt = this.o.clock.now();
      st.ackedSeq = st.sentSeq;
      const latency = st.sentCommitAt !== undefined ? now - st.sentCommitAt : undefined;
      if (latency !== undefined) this.o.metrics.convergence.observe(latency / 1000);
      this.o.onAck(req.typeUrl, latency, st.sentOriginAt);
      st.sentCommitAt = undefined;
      st.sentOriginAt = undefined;
    } else {
      // Not the latest nonce: counted, but (rule 19) its subscription changes still apply.
      this.o.metrics.expiredNonce.inc({ type: label });
    }
  }
}
