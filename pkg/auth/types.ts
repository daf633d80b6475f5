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

/**
 * Every reason an authentication can fail. Bounded so it can be a metric label;
 * the caller only ever sees "authentication failed".
 */
export const AUTH_FAILURE_REASONS = [
  'no_credentials',
  'malformed_token',
  'unsupported_alg',
  'unknown_kid',
  'bad_signature',
  'expired',
  'not_yet_valid',
  'wrong_audience',
  'wrong_issuer',
  'bad_subject',
  'keys_unavailable',
  'bad_peer_certificate',
  'wrong_trust_domain',
  /** The chain does not anchor in a root of the trust domain its SPIFFE id names. */
  'untrusted_anchor',
] as const;
export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

export const IMPERSONATION_FAILURE_REASONS = [
  'impersonation_untrusted_caller',
  'impersonation_bad_identity',
  'impersonation_foreign_trust_domain',
  'impersonation_no_node',
  'impersonation_not_on_node',
] as const;
export type ImpersonationFailureReason = (typeof IMPERSONATION_FAILURE_REASONS)[number];

/** Every PermissionDenied reason (bounded, for metric labels). */
export const AUTHORIZATION_FAILURE_REASONS = [...IMPERSONATION_FAILURE_REASONS, 'node_namespace_mismatch'] as const;
export type AuthorizationFailureReason = (typeof AUTHORIZATION_FAILURE_REASONS)[number];

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
