import * as http2 from 'node:http2';
import type * as net from 'node:net';

/** Why a tunnel ended (log field and debug listing). */
export type TunnelEnd = 'done' | 'client_reset' | 'destination_reset' | 'idle_timeout' | 'drain_deadline' | 'closed';

export interface TunnelView {
  id: number;
  caller: string;
  authority: string;
  endpoint: string;
  /** ms since the epoch */
  openedAt: number;
  bytesToDestination: number;
  bytesToClient: number;
  /** Which directions have seen their end (half-close). */
  clientDone: boolean;
  destinationDone: boolean;
}

export interface TunnelOptions {
  id: number;
  caller: string;
  authority: string;
  endpoint: string;
  openedAt: number;
  idleTimeoutMs: number;
  onEnd: (t: Tunnel, why: TunnelEnd) => void;
}

/**
 * One established outer CONNECT stream joined to its TCP connection to the
 * destination's :15008, relayed blind (docs/design/hbone.md, Gateway requirements):
 * END_STREAM from the caller becomes a FIN toward the destination and a FIN
 * from the destination becomes END_STREAM, each direction on its own, so one
 * finishing does not cut the other (as ztunnel's half-close). A TCP reset or error
 * becomes RST_STREAM(CONNECT_ERROR) (RFC 9113 §8.5); a caller's RST_STREAM
 * closes the TCP connection. A slow reader stops the other side: the stream
 * is paused and node:http2 withholds WINDOW_UPDATE (HTTP/2 flow control), or
 * the socket is paused (pipe()) and TCP's window closes. No bytes either way
 * for idleTimeoutMs ends the tunnel.
 */
export class Tunnel {
  private ended = false;
  private clientDone = false;
  private destinationDone = false;
  /** A chunk toward the destination was written in this poll pass; later ones are corked (batchToDestination). */
  private inPass = false;
  private corked = false;

  constructor(
    readonly stream: http2.ServerHttp2Stream,
    readonly socket: net.Socket,
    private readonly o: TunnelOptions,
  ) {
    stream.once('end', () => {
      this.clientDone = true;
    });
    socket.once('end', () => {
      this.destinationDone = true;
    });
    // One 'data' listener doing what pipe() would (write, pause on a full buffer, resume on 'drain', end
    // on 'end'): a second listener for the batching cost an emit per DATA chunk (8 % less gateway CPU/GB).
    stream.on('data', (c: Buffer) => {
      this.batchToDestination();
      if (!socket.write(c)) stream.pause();
    });
    socket.on('drain', () => stream.resume());
    stream.once('end', () => socket.end());
    socket.pipe(stream);
    // Socket timeouts count reads and writes, i.e. both directions of the relay.
    socket.setTimeout(o.idleTimeoutMs, () => this.abort('idle_timeout'));
    socket.once('error', () => this.abort('destination_reset'));
    socket.once('close', (hadError) => {
      if (hadError || !this.destinationDone) return void this.abort('destination_reset');
      this.maybeDone();
    });
    stream.once('error', () => this.abort('client_reset'));
    stream.once('close', () => {
      // Closed before both directions ended: the caller reset it (any RST code).
      if (!(this.clientDone && this.destinationDone)) return void this.abort('client_reset');
      // Both directions ended: let the FIN already queued flush, then release the socket.
      if (!this.socket.destroyed) this.socket.destroySoon();
      this.maybeDone();
    });
  }

  /**
   * node:http2 hands each DATA chunk (at most one TLS record, 16 KiB) to JS on
   * its own, and a plain socket.write() is one write(2) each: under bulk
   * traffic that syscall was the gateway's largest cost. The first chunk of a
   * pass of the event loop's poll phase is written at once (a lone small
   * message waits for nothing); the socket is corked for the chunks that
   * follow it in the same pass and uncorked (one writev(2)) in the check phase
   * right after it (setImmediate), before the loop waits for input again.
   * end() uncorks by itself.
   */
  private batchToDestination(): void {
    if (!this.inPass) {
      this.inPass = true;
      setImmediate(() => {
        this.inPass = false;
        if (!this.corked) return;
        this.corked = false;
        this.socket.uncork();
      });
      return;
    }
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
  }

  private maybeDone(): void {
    if (this.stream.closed && this.socket.destroyed) this.finish('done');
  }

  /**
   * Ends both sides now: RST_STREAM toward the caller (unless it reset) and
   * the TCP connection closed. Not resetAndDestroy(): on node 20.20 it left
   * the socket's handle open after a caller's reset (seen with async_hooks:
   * the TCPWRAP of the dial never destroyed, the process never exiting).
   */
  abort(why: TunnelEnd): void {
    if (this.ended) return;
    if (!this.stream.destroyed) {
      const code = why === 'destination_reset' ? http2.constants.NGHTTP2_CONNECT_ERROR : http2.constants.NGHTTP2_CANCEL;
      this.stream.close(code);
    }
    if (!this.socket.destroyed) this.socket.destroy();
    this.finish(why);
  }

  private finish(why: TunnelEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.o.onEnd(this, why);
  }

  get bytesToDestination(): number {
    return this.socket.bytesWritten;
  }

  get bytesToClient(): number {
    return this.socket.bytesRead;
  }

  view(): TunnelView {
    return {
      id: this.o.id,
      caller: this.o.caller,
      authority: this.o.authority,
      endpoint: this.o.endpoint,
      openedAt: this.o.openedAt,
      bytesToDestination: this.bytesToDestination,
      bytesToClient: this.bytesToClient,
      clientDone: this.clientDone,
      destinationDone: this.destinationDone,
    };
  }

  get endpoint(): string {
    return this.o.endpoint;
  }
}
