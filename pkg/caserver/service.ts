import * as grpc from '@grpc/grpc-js';
import type * as client from 'prom-client';
import { authorizeImpersonation, DEFAULT_TRUSTED_NODE_ACCOUNTS } from '../auth';
import type { Authenticator, CallContext, CallerIdentity, WorkloadPlacement } from '../auth';
import { ttlTooLong, type Authority } from '../ca';
import { DaemonError, GrpcCode, isDaemonError, type GrpcCodeValue } from '../errors';
import { rateLimitedWarn, type Logger } from '../log';
import { caMetrics } from './metrics';
import { loadCaService } from './proto';
import type { CaRequest, CaResponse } from './proto';

/** pkg/errors' gRPC codes as grpc-js's enum (the same status.proto values; the Record keeps the list complete). */
const GRPC_STATUS: Record<GrpcCodeValue, grpc.status> = {
  [GrpcCode.OK]: grpc.status.OK,
  [GrpcCode.CANCELLED]: grpc.status.CANCELLED,
  [GrpcCode.UNKNOWN]: grpc.status.UNKNOWN,
  [GrpcCode.INVALID_ARGUMENT]: grpc.status.INVALID_ARGUMENT,
  [GrpcCode.DEADLINE_EXCEEDED]: grpc.status.DEADLINE_EXCEEDED,
  [GrpcCode.NOT_FOUND]: grpc.status.NOT_FOUND,
  [GrpcCode.ALREADY_EXISTS]: grpc.status.ALREADY_EXISTS,
  [GrpcCode.PERMISSION_DENIED]: grpc.status.PERMISSION_DENIED,
  [GrpcCode.RESOURCE_EXHAUSTED]: grpc.status.RESOURCE_EXHAUSTED,
  [GrpcCode.FAILED_PRECONDITION]: grpc.status.FAILED_PRECONDITION,
  [GrpcCode.ABORTED]: grpc.status.ABORTED,
  [GrpcCode.OUT_OF_RANGE]: grpc.status.OUT_OF_RANGE,
  [GrpcCode.UNIMPLEMENTED]: grpc.status.UNIMPLEMENTED,
  [GrpcCode.INTERNAL]: grpc.status.INTERNAL,
  [GrpcCode.UNAVAILABLE]: grpc.status.UNAVAILABLE,
  [GrpcCode.DATA_LOSS]: grpc.status.DATA_LOSS,
  [GrpcCode.UNAUTHENTICATED]: grpc.status.UNAUTHENTICATED,
};

export interface CaServiceDeps {
  authority: Authority;
  authenticator: Authenticator;
  placement: WorkloadPlacement;
  /** `ns/sa` accounts allowed to request other identities; default istio-system/ztunnel. */
  trustedNodeAccounts?: readonly string[];
  /** Refuse longer lifetimes than this (the Authority enforces its own maximum too). */
  maxTtlSeconds?: number;
  logger: Logger;
  registry: client.Registry;
  protoDir?: string;
}

export interface CaService {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
}

/** metadata key ztunnel sets in shared mode (src/identity/caclient.rs). */
const IMPERSONATED_IDENTITY = 'ImpersonatedIdentity';
const REFUSAL_LOGS_PER_SECOND = 20;

/** grpc-js Metadata → lower-cased header → string values (binary -bin headers as base64). */
export function callContextOf(
  call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>,
): CallContext {
  const metadata: Record<string, string[]> = {};
  for (const [k, vs] of Object.entries(call.metadata.toJSON())) {
    metadata[k.toLowerCase()] = (vs as Array<string | Buffer>).map((v) =>
      typeof v === 'string' ? v : v.toString('base64'),
    );
  }
  const ctx: CallContext = { metadata, remoteAddress: call.getPeer() };
  const cert = call.getAuthContext()?.sslPeerCertificate;
  if (cert) ctx.peerCertificate = cert;
  return ctx;
}

function requestedIdentity(req: CaRequest): string | undefined {
  const f = req.metadata?.fields?.[IMPERSONATED_IDENTITY];
  if (!f) return undefined;
  if (typeof f.stringValue !== 'string' || (f.kind !== undefined && f.kind !== 'stringValue')) {
    throw new DaemonError('ca.bad_metadata', GrpcCode.INVALID_ARGUMENT, 'ImpersonatedIdentity must be a string');
  }
  return f.stringValue;
}

function ttlOf(req: CaRequest): number {
  const n = Number(req.validity_duration ?? 0);
  return Number.isFinite(n) ? n : 0;
}

/**
 * istio.v1.auth.IstioCertificateService/CreateCertificate, as ztunnel calls it
 * (ztunnel src/identity/caclient.rs; istiod security/pkg/server/ca/server.go):
 * authenticate → (impersonation check) → sign → [leaf, intermediates…, roots].
 * Refusals are opaque to the caller; the reason goes to the log and a metric label.
 */
export function createCaService(deps: CaServiceDeps): CaService {
  const { definition } = loadCaService(deps.protoDir);
  const metrics = caMetrics(deps.registry, deps.authority);
  const logger = deps.logger.child({ component: 'ca-server' });
  const trusted = deps.trustedNodeAccounts ?? DEFAULT_TRUSTED_NODE_ACCOUNTS;
  // A flood of bad requests must not become a flood of log lines: at most
  // REFUSAL_LOGS_PER_SECOND per second, the rest counted (metrics count them all).
  const perSecond = REFUSAL_LOGS_PER_SECOND;
  const warnRefusal = rateLimitedWarn(logger, { perSecond, suppressedMsg: 'CSR refusal log lines suppressed' });
  const logRefusal = (fields: object): void => warnRefusal(fields, 'CSR refused');
  const logOtherIdentity = rateLimitedWarn(logger, {
    perSecond,
    suppressedMsg: 'identity mismatch log lines suppressed',
  });

  async function handle(call: grpc.ServerUnaryCall<CaRequest, CaResponse>): Promise<CaResponse> {
    const ctx = callContextOf(call);
    const caller: CallerIdentity = await deps.authenticator.authenticate(ctx);
    const req = call.request;
    const requested = requestedIdentity(req);
    const identity =
      requested === undefined ? caller.spiffeId : authorizeImpersonation(caller, requested, deps.placement, trusted);
    const ttl = ttlOf(req);
    if (deps.maxTtlSeconds !== undefined && ttl > deps.maxTtlSeconds) {
      throw ttlTooLong(ttl, deps.maxTtlSeconds);
    }
    const res = await deps.authority.sign({ csrPem: req.csr, identity, ttlSeconds: ttl });
    if (res.csrUris.length > 0 && !res.csrUris.includes(identity)) {
      // istiod does the same (the identity comes from the credentials), but the
      // caller wanted something else: typically a dedicated-mode ztunnel started
      // with a node token instead of its workload's own token.
      const asked = res.csrUris.join(', ');
      logOtherIdentity(
        { requested: res.csrUris, issued: identity, caller: caller.spiffeId, method: caller.method },
        `CSR asks for ${asked} but the caller's credentials name ${identity}: issued ${identity} ` +
          "(without ImpersonatedIdentity the certificate carries the caller's identity; a dedicated-mode ztunnel " +
          "needs the workload's own token)",
      );
    }
    if (logger.isLevelEnabled('debug')) {
      logger.debug(
        {
          caller: caller.spiffeId,
          method: caller.method,
          identity,
          serial: res.serialHex,
          notAfter: new Date(res.notAfter).toISOString(),
        },
        'certificate issued',
      );
    }
    return { cert_chain: res.certChain };
  }

  const CreateCertificate: grpc.handleUnaryCall<CaRequest, CaResponse> = (call, callback) => {
    const t0 = performance.now();
    metrics.csr.inc();
    handle(call).then(
      (res) => {
        metrics.signSeconds.observe((performance.now() - t0) / 1000);
        metrics.issued.inc();
        callback(null, res);
      },
      (e: unknown) => {
        if (isDaemonError(e)) {
          metrics.refusals.inc({ reason: e.code });
          if (e.grpcCode === GrpcCode.UNAUTHENTICATED) metrics.authFailures.inc();
          logRefusal({ reason: e.code, detail: e.message, peer: call.getPeer() });
          callback({ code: GRPC_STATUS[e.grpcCode], details: e.publicMessage });
        } else {
          metrics.refusals.inc({ reason: 'internal' });
          logger.error(
            { err: e instanceof Error ? e.message : String(e), peer: call.getPeer() },
            'CSR handling failed',
          );
          callback({ code: grpc.status.INTERNAL, details: 'internal error' });
        }
      },
    );
  };

  return { definition, implementation: { CreateCertificate } };
}
