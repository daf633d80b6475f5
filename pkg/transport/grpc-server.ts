import * as grpc from '@grpc/grpc-js';
import { format } from 'node:util';
import type { Logger } from '../log';

export interface GrpcServerOptions {
  /** host:port; port 0 picks a free one. */
  listen: string;
  credentials: grpc.ServerCredentials;
  logger: Logger;
  /** grpc-js receive limit; istiod's ISTIO_GPRC_MAXRECVMSGSIZE defaults to 4 MiB. */
  maxReceiveBytes: number;
  /**
   * HTTP/2 session memory cap in MB. Node's default (10 MB) counts queued
   * output, and a full WDS push at 50k workloads is ~12.5 MB.
   */
  maxSessionMemoryMb: number;
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
}

/**
 * grpc-js logs to stderr on its own (e.g. "No address added out of total 1
 * resolved" next to our one-line start-up error). Route it into our logger at
 * debug level instead; the process owner calls this once.
 */
export function routeGrpcLogs(logger: Logger): void {
  const log = (...args: unknown[]): void => logger.debug({ component: 'grpc-js', msg: format(...args) }, 'grpc-js');
  grpc.setLogger({ error: log, info: log, debug: log } as unknown as Console);
}

export interface ServiceRegistration {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
}

/** The daemon's one gRPC server (xDS + CA on the same TLS port, like istiod's 15012). */
export class GrpcServer {
  private readonly server: grpc.Server;
  private boundPort = 0;
  private started = false;
  private closed = false;

  constructor(private readonly o: GrpcServerOptions) {
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': o.maxReceiveBytes,
      'grpc.max_send_message_length': -1,
      'grpc-node.max_session_memory': o.maxSessionMemoryMb,
      // ztunnel pings every 30 s (ztunnel-protocol.md §3.5); istiod also keeps
      // streams alive server-side so dead peers are detected without send timeouts.
      'grpc.keepalive_time_ms': o.keepaliveTimeMs ?? 30_000,
      'grpc.keepalive_timeout_ms': o.keepaliveTimeoutMs ?? 10_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.max_concurrent_streams': 100_000,
      // channelz bookkeeping costs ~2 % CPU per call and nobody reads it here.
      'grpc.enable_channelz': 0,
    });
  }

  addService(s: ServiceRegistration): void {
    this.server.addService(s.definition, s.implementation);
  }

  /** Binds and starts serving; resolves with the bound port. */
  async start(): Promise<number> {
    if (this.started) return this.boundPort;
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(this.o.listen, this.o.credentials, (err, port) => (err ? reject(err) : resolve(port)));
    });
    this.started = true;
    this.o.logger.info({ component: 'grpc', listen: this.o.listen, port: this.boundPort }, 'gRPC TLS server listening');
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Graceful: stops accepting, lets in-flight calls finish (callers end their streams first). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }

  destroy(): void {
    this.closed = true;
    this.server.forceShutdown();
  }
}
