import * as http2 from 'node:http2';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { MessageReader } from '../../transport';
import { encodeDeltaRequest, type Wire } from '../../wire';

/**
 * One gRPC bidi stream over its own node:http2 session: the peer link without
 * a grpc-js channel. A grpc-js Client per peer carries a resolver, a load
 * balancer, subchannel pools, channelz trackers and retry state — at N = 2,000
 * peers that was ~90 KiB more per link than a bare HTTP/2 session (measured,
 * see the peering bench notes). gRPC over HTTP/2 is small enough to speak
 * directly (grpc/grpc doc/PROTOCOL-HTTP2.md): POST with content-type application/grpc and
 * te: trailers, messages framed as 1 byte compressed flag + 4 byte big-endian
 * length, status in trailers (or in the headers of a trailers-only response).
 */
export interface PeerCallOptions {
  host: string;
  port: number;
  /** Send SNI only for hostnames: RFC 6066 §3 forbids literal IPs in server_name (Node warns DEP0123). */
  sni?: string;
  path: string;
  /** Extra request headers (gRPC metadata such as authorization and clusterid). */
  headers?: Readonly<Record<string, string>>;
  /** Shared per (roots, identity) generation; never built per call. */
  secureContext: tls.SecureContext;
  /** Runs after the chain verified against the context's roots; returns an Error to refuse the server. */
  checkServerIdentity: (cert: tls.PeerCertificate) => Error | undefined;
  maxMessageBytes: number;
  keepaliveMs: number;
  keepaliveTimeoutMs: number;
  onEstablished: () => void;
  onMessage: (b: Buffer) => void;
  /** Exactly once per call, unless cancel() ended it first. */
  onEnd: (code: number, details: string) => void;
}

export class PeerCall {
  private readonly session: http2.ClientHttp2Session;
  private readonly stream: http2.ClientHttp2Stream;
  /** gRPC framing of the responses; a refused prefix ends the call. */
  private readonly reader = new MessageReader({
    check: (compressed, len) => {
      if (compressed) this.fail(grpc.status.INTERNAL, 'compressed message without negotiated encoding');
      else if (len > this.o.maxMessageBytes)
        this.fail(grpc.status.RESOURCE_EXHAUSTED, `message of ${len} bytes exceeds ${this.o.maxMessageBytes}`);
      return !this.ended;
    },
    message: (msg) => void (this.ended || this.o.onMessage(msg)),
  });
  private ended = false;
  private keepalive?: NodeJS.Timeout;

  constructor(private readonly o: PeerCallOptions) {
    const authority = `https://${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}`;
    this.session = http2.connect(authority, {
      settings: { enablePush: false },
      createConnection: () =>
        tls.connect({
          host: o.host,
          port: o.port,
          secureContext: o.secureContext,
          ALPNProtocols: ['h2'],
          ...(o.sni ? { servername: o.sni } : {}),
          // Chain verification (rejectUnauthorized) happens first; the name check is the SPIFFE id.
          checkServerIdentity: (_host, cert) => o.checkServerIdentity(cert),
        }),
    });
    this.session.on('error', (e: NodeJS.ErrnoException) => this.end(grpc.status.UNAVAILABLE, e.message));
    this.session.on('goaway', (code) => this.end(grpc.status.UNAVAILABLE, `server sent GOAWAY (code ${code})`));
    this.session.on('close', () => this.end(grpc.status.UNAVAILABLE, 'connection closed'));
    this.stream = this.session.request({
      ...o.headers,
      ':method': 'POST',
      ':path': o.path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    this.stream.on('response', (h) => {
      const status = Number(h[':status']);
      if (status !== 200) return void this.end(grpc.status.UNAVAILABLE, `HTTP status ${status}`);
      if (h['grpc-status'] !== undefined) return void this.trailers(h); // trailers-only response
      this.o.onEstablished();
    });
    this.stream.on('data', (c: Buffer) => this.reader.push(c));
    this.stream.on('trailers', (h: http2.IncomingHttpHeaders) => this.trailers(h));
    this.stream.on('error', (e: Error) => this.end(grpc.status.UNAVAILABLE, e.message));
    this.stream.on('close', () =>
      this.end(grpc.status.UNAVAILABLE, `stream closed (HTTP/2 code ${this.stream.rstCode ?? 0})`),
    );
    this.keepalive = setInterval(() => this.ping(), o.keepaliveMs);
    this.keepalive.unref?.();
  }

  private ping(): void {
    if (this.ended) return;
    let acked = false;
    let timer: NodeJS.Timeout | undefined;
    // The peer gets a fair window: if the timer fires late, our own event loop was stalled (a long
    // push, a sync fsync) and the PING may not even have left yet (node:http2 writes frames on a
    // later turn) — start the window again instead of blaming the peer. The verdict itself waits
    // one more turn (setImmediate runs after the poll phase) so an ACK already received is seen.
    const arm = (): void => {
      const due = Date.now() + this.o.keepaliveTimeoutMs;
      timer = setTimeout(() => {
        if (acked || this.ended) return;
        if (Date.now() - due > this.o.keepaliveTimeoutMs / 2) return void arm();
        setImmediate(() => {
          if (!acked) this.fail(grpc.status.UNAVAILABLE, 'keepalive ping not acknowledged');
        });
      }, this.o.keepaliveTimeoutMs);
      timer.unref?.();
    };
    arm();
    try {
      this.session.ping((err) => {
        acked = true;
        if (timer) clearTimeout(timer);
        if (err) this.fail(grpc.status.UNAVAILABLE, `keepalive: ${err.message}`);
      });
    } catch (e) {
      acked = true;
      if (timer) clearTimeout(timer);
      this.fail(grpc.status.UNAVAILABLE, `keepalive: ${(e as Error).message}`);
    }
  }

  private trailers(h: http2.IncomingHttpHeaders): void {
    const code = Number(h['grpc-status'] ?? grpc.status.UNKNOWN);
    let details = String(h['grpc-message'] ?? '');
    try {
      details = decodeURIComponent(details); // grpc-message is percent-encoded
    } catch {
      /* keep raw */
    }
    this.end(Number.isInteger(code) ? code : grpc.status.UNKNOWN, details);
  }

  write(message: Uint8Array): void {
    if (this.ended) return;
    const frame = Buffer.allocUnsafe(5 + message.length);
    frame[0] = 0;
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    this.stream.write(frame);
  }

  /** Writes a DeltaDiscoveryRequest given in its plain (camelCase) form. */
  request(wire: Wire, req: Record<string, unknown>): void {
    this.write(encodeDeltaRequest(wire, req));
  }

  /** Ends the call from our side and reports it (a protocol error we detected). */
  fail(code: number, details: string): void {
    this.end(code, details);
  }

  /** Ends the call without reporting (close / replaced). */
  cancel(): void {
    if (this.ended) return;
    this.ended = true;
    this.teardown();
  }

  private end(code: number, details: string): void {
    if (this.ended) return;
    this.ended = true;
    this.teardown();
    this.o.onEnd(code, details);
  }

  private teardown(): void {
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = undefined;
    this.reader.stop();
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    if (!this.session.destroyed) this.session.destroy();
  }
}
