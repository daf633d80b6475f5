import type { DetailedPeerCertificate, PeerCertificate } from 'node:tls';
import { DaemonError, GrpcCode } from '../errors';

export interface CallerIdentity {
  spiffeId: string;
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
  method: 'jwt' | 'bootstrap' | 'mtls' | 'insecure';
  podName?: string;
  podUid?: string;
  nodeName?: string;
}

export interface CallContext {
  /** Lower-cased header → values. */
  metadata: Record<string, string[]>;
  /** Only present when TLS verified it against our roots. */
  peerCertificate?: DetailedPeerCertificate | PeerCertificate;
  remoteAddress?: string;
}

export interface Authenticator {
  authenticate(ctx: CallContext): Promise<CallerIdentity>;
}

/** Provided by the registry: which SPIFFE identities have workloads scheduled on a node. */
export interface WorkloadPlacement {
  identitiesOnNode(nodeName: string): ReadonlySet<string>;
}

// The reason lists live in the project's one error catalogue (pkg/errors/codes.ts); re-exported here for
// authentication's users.
export { AUTH_FAILURE_REASONS, AUTHORIZATION_FAILURE_REASONS, IMPERSONATION_FAILURE_REASONS } from '../errors';
export type { AuthFailureReason, AuthorizationFailureReason, ImpersonationFailureReason } from '../errors';
import type { AuthFailureReason, AuthorizationFailureReason } from '../errors';

export const AUTHENTICATION_FAILED = 'authentication failed';
export const PERMISSION_DENIED = 'permission denied';

export function authFailure(reason: AuthFailureReason, detail: string): DaemonError {
  return new DaemonError(`auth.${reason}`, GrpcCode.UNAUTHENTICATED, `${reason}: ${detail}`, AUTHENTICATION_FAILED);
}

export function permissionDenied(reason: AuthorizationFailureReason, detail: string): DaemonError {
  return new DaemonError(`auth.${reason}`, GrpcCode.PERMISSION_DENIED, `${reason}: ${detail}`, PERMISSION_DENIED);
}

/** First value of a (lower-cased) header. */
export function header(ctx: CallContext, name: string): string | undefined {
  return ctx.metadata[name]?.[0];
}
