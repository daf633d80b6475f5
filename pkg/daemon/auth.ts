import * as fs from 'node:fs';
import type { Registry } from 'prom-client';
import type { DaemonConfig } from '../config';
import type { Logger } from '../log';
import type { Clock } from '../lifecycle';
import type { NodeInfo } from '../wire';
import type { ServiceRegistration } from '../transport';
import type { Authority } from '../ca';
import {
  BootstrapIssuer, CompositeAuthenticator, InsecureAuthenticator, MtlsAuthenticator, RefreshingKeySet, TokenAuthenticator,
  TrustDomainRoots, fileJwksLoader, urlJwksLoader, type Authenticator, type CallerIdentity, type TrustAnchors, type TrustedIssuer,
  type WorkloadPlacement, type JsonWebKeySet,
} from '../auth';
import { createCaService } from '../caserver';

/**
 * Trust domain → roots: the local trust domain maps to the mesh bundle (and our
 * own issuing CA certificates), every peering.trustBundles entry to the roots
 * in its file (read once here; loadConfig already validated them).
 */
export function buildTrustAnchors(cfg: DaemonConfig, meshRoots: () => string, ownChain?: () => string): TrustAnchors {
  const extra = new Map<string, string>();
  for (const [td, file] of Object.entries(cfg.peering.trustBundles)) {
    try {
      extra.set(td, fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`peering.trustBundles[${JSON.stringify(td)}]: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  return new TrustDomainRoots({ localTrustDomain: cfg.trustDomain, localRoots: meshRoots, localIssuers: ownChain, extra });
}

export interface DaemonAuth {
  /** xDS callers: local identities, plus peer daemons of every trust domain with configured roots. */
  authenticator: Authenticator;
  bootstrap: BootstrapIssuer;
  caService: ServiceRegistration;
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
  metrics: Registry;
  authority: Authority;
  placement: WorkloadPlacement;
  /** More token issuers (e.g. the cluster's service-account issuer discovered in-cluster). */
  extraIssuers?: readonly TrustedIssuer[];
  /** Extra type authorisation (peering types), consulted before the default. */
  extraTypeAuthz?: (identity: CallerIdentity, typeUrl: string) => boolean | undefined;
  /** Per-trust-domain roots (buildTrustAnchors); default: the local trust domain with the authority's roots only. */
  anchors?: TrustAnchors;
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
  const anchors = i.anchors ?? buildTrustAnchors({ ...cfg, peering: { ...cfg.peering, trustBundles: {} } }, () => i.authority.rootBundlePem());
  const token = new TokenAuthenticator({ issuers, trustDomain: cfg.trustDomain, clock });
  const insecure = cfg.xds.insecure ? new InsecureAuthenticator({ trustDomain: cfg.trustDomain, namespace: cfg.systemNamespace }) : undefined;
  // A client certificate must anchor in the roots of the trust domain its own
  // SPIFFE id names; from another trust domain only the peer daemon account is
  // accepted (nothing else of a foreign mesh has business on our xDS port).
  const authenticator = new CompositeAuthenticator({
    mtls: new MtlsAuthenticator({ trustDomains: anchors.trustDomains(), anchors, foreignAccounts: [cfg.peering.peerIdentity] }),
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
  const caService = createCaService({
    authority: i.authority,
    authenticator: caAuthenticator,
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
    checkNode(id, node) {
      const wrong = wrongTypedNodeMetadata(node.metadata);
      if (wrong) return wrong;
      const ns = node.metadata.NAMESPACE;
      if (id.method === 'insecure') return undefined;
      if (typeof ns === 'string' && ns !== '' && ns !== id.namespace) {
        return `caller namespace ${id.namespace} does not match node metadata NAMESPACE ${ns}`;
      }
      return undefined;
    },
    authorizeType(identity, typeUrl) {
      const extra = i.extraTypeAuthz?.(identity, typeUrl);
      if (extra !== undefined) return extra;
      return true;
    },
    jwks: () => bootstrap.jwks(),
  };
}

/**
 * Node metadata keys the daemon or istiod reads as strings (ztunnel sends
 * them as strings: ztunnel src/config.rs builds node metadata). Any other type is refused
 * rather than skipped, so a list or number cannot step around the
 * namespace check.
 */
const STRING_NODE_METADATA = ['NAMESPACE', 'NAME', 'NODE_NAME', 'CLUSTER_ID', 'SERVICE_ACCOUNT',
  'INSTANCE_IPS'] as const;

export function wrongTypedNodeMetadata(metadata: Readonly<Record<string, unknown>>): string | undefined {
  for (const k of STRING_NODE_METADATA) {
    const v = metadata[k];
    if (v === undefined || typeof v === 'string') continue;
    const what = v === null ? 'null' : Array.isArray(v) ? 'a list'
      : typeof v === 'object' ? 'a struct' : `a ${typeof v}`;
    return `node metadata ${k} must be a string, got ${what}`;
  }
  return undefined;
}
