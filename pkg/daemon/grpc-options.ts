import type { Registry } from 'prom-client';
import type { DaemonConfig } from '../config';
import type { Logger } from '../log';
import { transportRefusalCounter, type GrpcServerOptions, type RotatingServerCredentials } from '../transport';
import { ConnectionAdmission, connectionLimit } from '../admission';
import type { XdsServerOptions } from '../xds';

/**
 * The gRPC port's options from the daemon's configuration: the transport limits (xds.*) and the connection cap.
 * The cap sits below RLIMIT_NOFILE (runtime.fdReserve) so a flood is refused at accept before the registry scan,
 * a state write or a certificate read meets EMFILE.
 */
export function grpcServerOptions(
  cfg: DaemonConfig,
  d: {
    credentials: RotatingServerCredentials;
    logger: Logger;
    metrics: Registry;
    nofileSoftLimit?: number;
  },
): GrpcServerOptions {
  const limit = connectionLimit({
    softNofile: d.nofileSoftLimit,
    reserve: cfg.runtime.fdReserve,
    configured: cfg.runtime.maxConnections,
  });
  d.logger.info({ maxConnections: limit.max, basis: limit.basis }, 'gRPC connection cap');
  const x = cfg.xds;
  return {
    listen: x.listen,
    credentials: d.credentials,
    logger: d.logger,
    maxReceiveBytes: x.maxReceiveBytes,
    maxSessionMemoryMb: x.maxSessionMemoryMb,
    maxBufferedReceiveBytes: x.receiveBudgetBytes,
    limits: {
      tlsHandshakeTimeoutMs: x.tlsHandshakeTimeout,
      prefaceTimeoutMs: x.prefaceTimeout,
      idleTimeoutMs: x.idleTimeout,
      maxConcurrentStreams: x.maxConcurrentStreams,
      firstMessageTimeoutMs: x.firstMessageTimeout,
      maxConnectionsPerSource: x.maxConnectionsPerSource,
      receiveHoldTimeoutMs: x.receiveHoldTimeout,
      authenticatedWindowBytes: x.authenticatedWindowBytes,
    },
    refused: transportRefusalCounter(d.metrics),
    admission: new ConnectionAdmission({ maxConnections: limit.max, metrics: d.metrics }),
  };
}

/** The xDS server's per-stream limits from the configuration (xds.*, log.repeatLimit). */
export function xdsStreamOptions(
  cfg: DaemonConfig,
): Pick<
  XdsServerOptions,
  'authTimeoutMs' | 'maxNamesPerStream' | 'streamLimits' | 'maxPendingRequests' | 'repeatLogsPerSecond'
> {
  const x = cfg.xds;
  return {
    authTimeoutMs: x.firstMessageTimeout,
    maxNamesPerStream: x.maxNamesPerStream,
    streamLimits: {
      namesPerTurn: x.streamNamesPerTurn,
      requestsPerTurn: x.streamRequestsPerTurn,
      bytesPerTurn: x.streamBytesPerTurn,
      namesPerSecond: x.streamNamesPerSecond,
      bytesPerSecond: x.streamBytesPerSecond,
      workMsPerSecond: x.streamWorkMsPerSecond,
    },
    maxPendingRequests: x.maxRequestsBeforeAuth,
    repeatLogsPerSecond: cfg.log.repeatLimit,
  };
}
