export {
  Authority,
  chainNotAfter,
  DEFAULT_MAX_WORKLOAD_TTL_SECONDS,
  DEFAULT_WORKLOAD_TTL_SECONDS,
  SELF_SIGNED_ROOT_TTL_SECONDS,
  ttlTooLong,
} from './authority';
export type {
  AuthorityInfo,
  AuthorityOptions,
  CertSummary,
  ServingCert,
  ServingCertRequest,
  SignRequest,
  SignResult,
} from './authority';
export { ServingIdentity } from './serving';
export type { ServingIdentityOptions } from './serving';
