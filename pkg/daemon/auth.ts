import type { DaemonConfig } from '../config';
import type { Logger } from '../log';
import type { Clock } from '../lifecycle';
import type { NodeInfo } from '../wire';
import {
  BootstrapIssuer,
  CompositeAuthenticator,
  InsecureAuthenticator,
  MtlsAuthenticator,
  RefreshingKeySet,
  TokenAuthenticator,
  TrustDomainRoots,
  checkNodeMetadata,
  fileJwksLoader,
  urlJwksLoader,
  type Authenticator,
  type CallerIdentity,
  type TrustAnchors,
  type TrustedIssuer,
  type JsonWebKeySet,
} from '../auth';

/**
 * Trust domain → roots: the local trust domain maps to the mesh bundle (and our
 * own issuing CA certificates), every peer trust domain to the roots read from
 * peering.trustBundles (readTrustBundles).
 */
export function buildTrustAnchors(
  cfg: DaemonConfig,
  peerRoots: ReadonlyMap<string, string>,
  meshRoots: () => string,
  ownChain?: () => string,
): TrustAnchors {
  return new TrustDomainRoots({
    localTrustDomain: cfg.trustDomain,
    localRoots: meshRoots,
    localIssuers: ownChain,
    extra: peerRoots,
  });
}

export interface DaemonAuth {
  /** xDS callers: local identities, plus peer daemons of every trust domain with configured roots. */
  authenticator: Authenticator;
  /** CA callers: identities of our own trust domain only. */
  caAuthenticator: Authenticator;
  bootstrap: BootstrapIssuer;
  /** istiod's xDS authz (pilot/pkg/xds/auth.go): caller namespace must equal node metadata NAMESPACE. */
  checkNode(identity: CallerIdentity, node: NodeInfo): string | undefined;
  /** Which callers may watch which type URLs; the peering layer adds its own. */
  authorizeType(identity: CallerIdentity, typeUrl: string): boolean;
  /** Public keys of our bootstrap issuer (served on the debug port). */
  jwks(): JsonWebKeySet;
}

export interface BuildAuthInput {
  cfg: DaemonConfig;
  logger: Logger;
  clock: Clock;
  /** More token issuers (e.g. the cluster's service-account issuer discovered in-cluster). */
  extraIssuers?: readonly TrustedIssuer[];
  /** Extra type authorisation (peering types), consulted before the default. */
  extraTypeAuthz?: (identity: CallerIdentity, typeUrl: string) => boolean | undefined;
  /** Per-trust-domain roots (buildTrustAnchors). */
  anchors: TrustAnchors;
}

/** Composes the authenticators and authorisation hooks from the configuration (auth.*, xds.insecure). */
export function buildAuth(i: BuildAuthInput): DaemonAuth {
  const { cfg, logger, clock, anchors } = i;
  const bootstrap = BootstrapIssuer.open({ stateDir: cfg.stateDir, trustDomain: cfg.trustDomain, clock, logger });
  const issuers: TrustedIssuer[] = [bootstrap.trustedIssuer(cfg.auth.audiences), ...(i.extraIssuers ?? [])];
  if (cfg.auth.jwksFile || cfg.auth.jwksUrl) {
    const loader = cfg.auth.jwksFile
      ? fileJwksLoader(cfg.auth.jwksFile)
      : urlJwksLoader(
          /\/\.well-known\/|jwks/i.test(cfg.auth.jwksUrl)
            ? { jwksUri: cfg.auth.jwksUrl }
            : { issuer: cfg.auth.jwksUrl },
        );
    issuers.push({
      issuer: cfg.auth.issuer || cfg.auth.jwksUrl,
      audiences: cfg.auth.audiences,
      keys: new RefreshingKeySet({ loader, source: cfg.auth.jwksFile || cfg.auth.jwksUrl, clock, logger }),
      method: 'jwt',
    });
  }
  const token = new TokenAuthenticator({ issuers, trustDomain: cfg.trustDomain, clock });
  const insecure = cfg.xds.insecure
    ? new InsecureAuthenticator({ trustDomain: cfg.trustDomain, namespace: cfg.systemNamespace })
    : undefined;
  // A client certificate must anchor in the roots of the trust domain its own
  // SPIFFE id names; from another trust domain only the peer daemon account is
  // accepted (nothing else of a foreign mesh has business on our xDS port).
  const authenticator = new CompositeAuthenticator({
    mtls: new MtlsAuthenticator({
      trustDomains: anchors.trustDomains(),
      anchors,
      foreignAccounts: [cfg.peering.peerIdentity],
    }),
    token,
    insecure,
  });
  // The CA signs identities of our trust domain only: a peer's certificate
  // (another trust domain) never buys a certificate here.
  const caAuthenticator = new CompositeAuthenticator({
    mtls: new MtlsAuthenticator({ trustDomains: [cfg.trustDomain], anchors }),
    token,
    insecure,
  });
  return {
    authenticator,
    caAuthenticator,
    bootstrap,
    checkNode: (id, node) => checkNodeMetadata(id, node.metadata),
    authorizeType(identity, typeUrl) {
      const extra = i.extraTypeAuthz?.(identity, typeUrl);
      if (extra !== undefined) return extra;
      return true;
    },
    jwks: () => bootstrap.jwks(),
  };
}
