// Caller authentication shared by xDS and the CA. Failures are DaemonErrors with
// code auth.<reason>; callers see only "authentication failed"/"permission denied".
export {
  AUTH_FAILURE_REASONS,
  AUTHORIZATION_FAILURE_REASONS,
  AUTHENTICATION_FAILED,
  IMPERSONATION_FAILURE_REASONS,
  PERMISSION_DENIED,
  authFailure,
  permissionDenied,
} from './types';
export type {
  Authenticator,
  AuthFailureReason,
  AuthorizationFailureReason,
  CallContext,
  CallerIdentity,
  ImpersonationFailureReason,
  WorkloadPlacement,
} from './types';
export { signJwt, MAX_TOKEN_BYTES, verifyJwt } from './jwt';
export type { JwtAlg, JwtHeader, VerificationKey, VerifyJwtOptions } from './jwt';
export { fileJwksLoader, httpsFetcher, parseJwks, RefreshingKeySet, StaticKeySet, urlJwksLoader } from './jwks';
export type { Fetcher, JsonWebKeySet, JwksLoader, KeySet, RefreshingKeySetOptions } from './jwks';
export { DEFAULT_AUDIENCE, TokenAuthenticator } from './token';
export type { TokenAuthenticatorOptions, TrustedIssuer } from './token';
export { BootstrapIssuer, MAX_BOOTSTRAP_TTL_SECONDS } from './bootstrap';
export type { BootstrapIssuerOptions, BootstrapTokenRequest } from './bootstrap';
export { anchoredIn, MtlsAuthenticator, parsePemCertificates, TrustDomainRoots } from './mtls';
export type { AnchorSet, MtlsAuthenticatorOptions, TrustAnchors } from './mtls';
export { readTrustBundles } from './trust-bundles';
export { checkNodeMetadata, wrongTypedNodeMetadata } from './node-metadata';
export {
  authorizeImpersonation,
  authorizeNodeNamespace,
  CompositeAuthenticator,
  DEFAULT_TRUSTED_NODE_ACCOUNTS,
  InsecureAuthenticator,
} from './composite';
