import type { PeerClient } from './link';
import type { PeerDecl, PeerDeclarations } from './core';
import type { GatewayHealth } from './link';
import type { Conflict } from './generate';
import type { PeerPartition } from './state';
import type { LinkProgramming, PlaneView, ProgrammingTracker } from './programming';
import { ConditionClock, declarationStatus, peerStatus, type PeerStatus } from './status';

/** What the status of one linked peer is read from. */
export interface StatusPeer {
  decl: PeerDecl;
  /** `decl` with dataGateways = its healthy gateways. */
  dataDecl?: PeerDecl;
  flat: boolean;
  client: PeerClient;
  partition: PeerPartition;
  programming: LinkProgramming;
}

/**
 * The peers' conditions as reported (`/debug/peers`, Gateway status, `check`): it owns the transition clock,
 * so each condition's lastTransitionTime is the moment its status changed, whether observed at an event or at a read.
 */
export class StatusBook {
  private readonly clock = new ConditionClock();

  constructor(
    private readonly health: GatewayHealth,
    private readonly programming: ProgrammingTracker,
  ) {}

  /** One peer's status, its conditions stamped at `now`. */
  peer(p: StatusPeer, conflicts: Conflict[], now: number, plane?: PlaneView): PeerStatus {
    const h = this.health;
    const gateways = p.decl.gateways.map((g) => ({ id: g.id, healthy: h.healthy(g.id), since: h.since(g.id) }));
    const dp = this.programming.state(p.programming, plane);
    const st = peerStatus(p.dataDecl ?? p.decl, p.flat, p.partition, p.client.state, conflicts, dp, gateways);
    st.conditions = this.clock.stamp(p.decl.key, st.conditions, now);
    return st;
  }

  /** Every linked peer (sorted by cluster), then every refused declaration; forgets transitions of the rest. */
  list(
    peers: Iterable<StatusPeer>,
    conflictsOf: (cluster: string) => Conflict[],
    declarations: PeerDeclarations,
    now: number,
  ): PeerStatus[] {
    const out: PeerStatus[] = [];
    const plane = this.programming.planeOnce();
    for (const p of [...peers].sort((a, b) => (a.decl.cluster < b.decl.cluster ? -1 : 1))) {
      const st = this.peer(p, conflictsOf(p.decl.cluster), now, plane);
      out.push(st);
      // Every further istio-remote Gateway of the peer carries the peer's conditions too.
      for (const k of new Set(p.decl.gateways.map((g) => g.key))) if (k !== st.gateway) out.push({ ...st, gateway: k });
    }
    for (const d of declarationStatus(declarations)) {
      out.push({ ...d, conditions: this.clock.stamp(d.gateway, d.conditions, now) });
    }
    this.clock.retain(new Set(out.map((s) => s.gateway)));
    return out;
  }
}
