import type { PeerDecl } from '../core';
import type { ProbeTarget } from './gateway-health';

/**
 * Which of a peer's gateways are probed and which the data plane uses
 * (pure; the layer owns the health state and the declarations).
 */

/**
 * Gateway-mode peers with more than one gateway have theirs probed: that is
 * where a choice exists. A single gateway is used whatever its probe says
 * (withdrawing it would withdraw the peer), so it is not probed at all —
 * which also keeps 2,000 single-gateway peers from costing 8,000 connects/s.
 */
export function probeTargets(peers: Iterable<{ flat: boolean; decl: PeerDecl }>): ProbeTarget[] {
  const targets: ProbeTarget[] = [];
  for (const p of peers) {
    if (p.flat || p.decl.nodePort || p.decl.gateways.length < 2) continue;
    for (const g of p.decl.gateways) targets.push({ id: g.id, host: g.address.value, ports: [g.hbonePort, g.xdsPort] });
  }
  return targets;
}

/**
 * The declaration the merge sees: `decl` with dataGateways = its healthy
 * gateways. Returns `prev` itself while that set is unchanged (the merge
 * memoises on identity). None healthy keeps them all (fail open: when every
 * probe fails, the probe may be what is broken, not every gateway).
 */
export function dataDeclFor(decl: PeerDecl, prev: PeerDecl | undefined, healthy: (id: string) => boolean): PeerDecl {
  const all = decl.gateways;
  let use = all.filter((g) => healthy(g.id));
  if (use.length === 0) use = [...all];
  const was = prev?.dataGateways;
  const same = was !== undefined && was.length === use.length && was.every((g, i) => g === use[i]);
  if (prev && same && prev.gateways === all) return prev;
  return { ...decl, dataGateways: use };
}
