import { parseSpiffeId } from '../x509';
import { authFailure, header, permissionDenied } from './types';
import type { Authenticator, CallContext, CallerIdentity, WorkloadPlacement } from './types';

/**
 * Only for development on loopback (the daemon refuses the flag elsewhere):
 * every caller is the configured identity, by default the trusted node account.
 */
export class InsecureAuthenticator implements Authenticator {
  private readonly identity: CallerIdentity;
  constructor(opts: { trustDomain: string; namespace?: string; serviceAccount?: string; nodeName?: string }) {
    const ns = opts.namespace ?? 'istio-system';
    const sa = opts.serviceAccount ?? 'ztunnel';
    const id = parseSpiffeId(`spiffe://${opts.trustDomain}/ns/${ns}/sa/${sa}`);
    const identity: CallerIdentity = {
      spiffeId: id.uri,
      trustDomain: id.trustDomain,
      namespace: ns,
      serviceAccount: sa,
      method: 'insecure',
    };
    if (opts.nodeName) identity.nodeName = opts.nodeName;
    this.identity = Object.freeze(identity);
  }
  async authenticate(): Promise<CallerIdentity> {
    return this.identity;
  }
}

/**
 * The one authenticator xDS and the CA use: a verified client certificate wins
 * (mTLS), else the bearer token, else — only if configured — insecure.
 */
export class CompositeAuthenticator implements Authenticator {
  constructor(private readonly opts: { mtls?: Authenticator; token?: Authenticator; insecure?: Authenticator }) {}

  async authenticate(ctx: CallContext): Promise<CallerIdentity> {
    if (ctx.peerCertificate?.raw && this.opts.mtls) return this.opts.mtls.authenticate(ctx);
    if (header(ctx, 'authorization') !== undefined && this.opts.token) return this.opts.token.authenticate(ctx);
    if (this.opts.insecure) return this.opts.insecure.authenticate(ctx);
    throw authFailure('no_credentials', 'no client certificate and no bearer token');
  }
}

export const DEFAULT_TRUSTED_NODE_ACCOUNTS: readonly string[] = ['istio-system/ztunnel'];

/**
 * ztunnel in shared mode asks for certificates of the workloads on its node
 * (metadata ImpersonatedIdentity). Like istiod's node authorizer
 * (security/pkg/server/ca/node_auth.go): only trusted node accounts may, and
 * only for identities the registry places on the caller's own node.
 * Returns the SPIFFE id to sign.
 */
export function authorizeImpersonation(
  caller: CallerIdentity,
  requestedSpiffeId: string,
  placement: WorkloadPlacement,
  trustedNodeAccounts: readonly string[] = DEFAULT_TRUSTED_NODE_ACCOUNTS,
): string {
  if (requestedSpiffeId === caller.spiffeId) return caller.spiffeId;
  const account = `${caller.namespace}/${caller.serviceAccount}`;
  if (!trustedNodeAccounts.includes(account)) {
    throw permissionDenied(
      'impersonation_untrusted_caller',
      `${account} may not request ${requestedSpiffeId.slice(0, 256)}`,
    );
  }
  let requested;
  try {
    requested = parseSpiffeId(requestedSpiffeId);
  } catch {
    throw permissionDenied(
      'impersonation_bad_identity',
      `requested identity ${requestedSpiffeId.slice(0, 256)} is not a workload SPIFFE id`,
    );
  }
  if (requested.trustDomain !== caller.trustDomain) {
    throw permissionDenied(
      'impersonation_foreign_trust_domain',
      `${requested.uri} is outside trust domain ${caller.trustDomain}`,
    );
  }
  if (!caller.nodeName) throw permissionDenied('impersonation_no_node', `${account} token carries no node claim`);
  if (!placement.identitiesOnNode(caller.nodeName).has(requested.uri)) {
    throw permissionDenied('impersonation_not_on_node', `${requested.uri} has no workload on node ${caller.nodeName}`);
  }
  return requested.uri;
}

/**
 * xDS: a proxy may only present itself as a proxy of its own namespace — the
 * node metadata NAMESPACE must equal the caller's (istiod pilot/pkg/xds/auth.go).
 * An absent NAMESPACE is left to the caller's policy (istiod lets it through).
 */
export function authorizeNodeNamespace(caller: CallerIdentity, nodeNamespace: string | undefined): void {
  if (nodeNamespace === undefined || nodeNamespace === '') return;
  if (caller.method === 'insecure') return;
  if (nodeNamespace !== caller.namespace) {
    throw permissionDenied(
      'node_namespace_mismatch',
      `caller ${caller.spiffeId} claims node namespace ${nodeNamespace.slice(0, 128)}`,
    );
  }
}
