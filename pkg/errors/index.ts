export { DaemonError, isDaemonError, GrpcCode } from './errors';
export type { GrpcCodeValue } from './errors';
export {
  AUTH_FAILURE_REASONS,
  AUTHORIZATION_FAILURE_REASONS,
  CSR_REFUSAL_CODES,
  IMPERSONATION_FAILURE_REASONS,
} from './codes';
export type {
  AuthFailureReason,
  AuthorizationFailureReason,
  CsrRefusalCode,
  ErrorCode,
  ImpersonationFailureReason,
} from './codes';
