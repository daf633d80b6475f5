import type { CallerIdentity } from '../auth';
import type { DaemonConfig } from '../config';
import type { Logger } from '../log';

export interface PeeringAuthzInput {
  /** The peering type URLs (what peers watch). */
  peerTypes: ReadonlyMap<string, unknown>;
  cfg: Pick<DaemonConfig, 'trustDomain' | 'peering'>;
  log: Logger;
}

/**
 * Which callers may watch which types, as far as peering is concerned: a peer (the configured peer daemon
 * account over mTLS, from our trust domain or one with configured roots) only peering types, anyone else no
 * peering type. undefined: not peering's to decide (the daemon's default applies).
 */
export function authorizePeeringType(
  identity: CallerIdentity,
  typeUrl: string,
  i: PeeringAuthzInput,
): boolean | undefined {
  const peerType = i.peerTypes.has(typeUrl);
  const isPeer = identity?.method === 'mtls' && allowedPeer(identity, i.cfg);
  if (isPeer) {
    if (!peerType)
      i.log.warn({ caller: identity.spiffeId, typeUrl }, 'peer identity asked for a ztunnel type; refused');
    return peerType;
  }
  if (peerType) {
    const { spiffeId, method } = identity ?? {};
    i.log.warn({ caller: spiffeId, method, typeUrl }, 'caller is not an allowed peer; peering type refused');
    return false;
  }
  return undefined;
}

function allowedPeer(id: CallerIdentity, cfg: PeeringAuthzInput['cfg']): boolean {
  // Links are one-way: a peer that dials us need not be declared here, so every trust domain with roots counts.
  const tds = new Set(peerTrustDomains(cfg));
  return tds.has(id.trustDomain) && `${id.namespace}/${id.serviceAccount}` === cfg.peering.peerIdentity;
}

/** Our trust domain and every peer trust domain with configured roots (peering.trustBundles). */
export function peerTrustDomains(cfg: PeeringAuthzInput['cfg']): string[] {
  return [cfg.trustDomain, ...Object.keys(cfg.peering.trustBundles ?? {})];
}
