/**
 * The project's one catalogue of error codes: every `DaemonError` carries one of these, as `<module>.<reason>`.
 * Codes are stable (logs, metrics and tests match on them); add a new one here, never inline.
 */

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

/** pkg/x509's refusals of a certificate signing request (all InvalidArgument). */
export const CSR_REFUSAL_CODES = [
  'csr_not_pem',
  'csr_wrong_pem_type',
  'csr_too_large',
  'csr_malformed',
  'csr_unsupported_algorithm',
  'csr_unsupported_key',
  'csr_bad_signature',
] as const;
export type CsrRefusalCode = (typeof CSR_REFUSAL_CODES)[number];

/** Every code a DaemonError may carry. */
export type ErrorCode =
  | `auth.${AuthFailureReason | AuthorizationFailureReason}`
  | 'auth.bootstrap_key_invalid'
  | 'auth.bootstrap_bad_ttl'
  | 'ca.ttl_too_long'
  | 'ca.busy'
  | 'ca.signer_failed'
  | 'ca.bad_metadata'
  | 'ca.plugin_invalid'
  | 'kube.config_invalid'
  | `kube.http_${number}`
  | 'kube.http_network'
  | 'kube.jwks_invalid'
  | 'kube.oidc_invalid'
  | `x509.${CsrRefusalCode}`
  | 'x509.bad_certificate'
  | 'x509.bad_private_key'
  | 'x509.bad_spiffe_id'
  | 'x509.unsupported_ca_key';
