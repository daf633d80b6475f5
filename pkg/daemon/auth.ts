import type { Registry } from 'prom-client';
import type { DaemonConfig } from '../config';
import type { Logger } from '../log';
import type { Clock } from '../lifecycle';
import type { NodeInfo } from '../wire';
import type { ServiceRegistration } from '../transport';
import type { Authority } from '../ca';
import {
  BootstrapIssuer, CompositeAuthenticator, InsecureAuthenticator, MtlsAuthenticator, RefreshingKeySet, TokenAuthenticator,
  fileJwksLoader, urlJwksLoader, type Authenticator, type CallerIdentity, type TrustedIssuer, type WorkloadPlacement,
  type JsonWebKeySet,
} from '../auth';
import { createCaService } from '../caserver';

export interface DaemonAuth {
  authenticator: Authenticator;
  bootstrap: BootstrapIssuer;
  caService: ServiceRegistration;
  /** istiod's xDS authz (pilot/pkg/xds/auth.go): caller namespace must equal node metadata NAMESPACE. */
  checkNode(identity: unknown, node: NodeInfo): string | undefined;
  /** Which callers may watch which type URLs; the peering layer adds its own. */
  authorizeType(identity: unknown, typeUrl: string): boolean;
  /** Public keys of our bootstrap issuer (served on the debug port). */
  jwks(): JsonWebKeySet;
}

export interface BuildAuthInput {
  cfg: DaemonConfig;
  logger: Logger;
  clock: Clock;
  metrics: Registry;
  authority: Authority;
  placement: WorkloadPlacement;
  /** More token issuers (e.g. the cluster's service-account issuer discovered in-cluster). */
  extraIssuers?: readonly TrustedIssuer[];
  /** Extra type authorisation (peering types), consulted before the default. */
  extraTypeAuthz?: (identity: CallerIdentity, typeUrl: string) => boolean | undefined;
}

export function buildAuth(i: BuildAuthInput): DaemonAuth {
  const { cfg, logger, clock } = i;
  const bootstrap = BootstrapIssuer.open({ stateDir: cfg.stateDir, trustDomain: cfg.trustDomain, clock, logger });
  const issuers: TrustedIssuer[] = [bootstrap.trustedIssuer(cfg.auth.audiences), ...(i.extraIssuers ?? [])];
  if (cfg.auth.jwksFile || cfg.auth.jwksUrl) {
    const loader = cfg.auth.jwksFile
      ? fileJwksLoader(cfg.auth.jwksFile)
      : urlJwksLoader(/\/\.well-known\/|jwks/i.test(cfg.auth.jwksUrl) ? { jwksUri: cfg.auth.jwksUrl } : { issuer: cfg.auth.jwksUrl });
    issuers.push({
      issuer: cfg.auth.issuer || cfg.auth.jwksUrl,
      audiences: cfg.auth.audiences,
      keys: new RefreshingKeySet({ loader, source: cfg.auth.jwksFile || cfg.auth.jwksUrl, clock, logger }),
      method: 'jwt',
    });
  }
  const authenticator = new CompositeAuthenticator({
    mtls: new MtlsAuthenticator({ trustDomains: [cfg.trustDomain] }),
    token: new TokenAuthenticator({ issuers, trustDomain: cfg.trustDomain, clock }),
    insecure: cfg.xds.insecure ? new InsecureAuthenticator({ trustDomain: cfg.trustDomain, namespace: cfg.systemNamespace }) : undefined,
  });
  const caService = createCaService({
    authority: i.authority,
    authenticator,
    placement: i.placement,
    trustedNodeAccounts: cfg.ca.trustedNodeAccounts,
    maxTtlSeconds: Math.round(cfg.ca.maxTtl / 1000),
    logger,
    registry: i.metrics,
  });
  return {
    authenticator,
    bootstrap,
    caService,
    checkNode(identity, node) {
      const id = identity as CallerIdentity;
      const ns = node.metadata.NAMESPACE;
      if (id.method === 'insecure') return undefined;
      if (typeof ns === 'string' && ns !== '' && ns !== id.namespace) {
        return `caller namespace ${id.namespace} does not match node metadata NAMESPACE ${ns}`;
      }
      return undefined;
    },
    authorizeType(identity, typeUrl) {
      const extra = i.extraTypeAuthz?.(identity as CallerIdentity, typeUrl);
      if (extra !== undefined) return extra;
      return true;
    },
    jwks: () => bootstrap.jwks(),
  };
}
