import { subscribeMany } from '../../e2e/harness/attack-daemon';

/** The attacks of bench/sim/attack-sim.ts, in the order the attack scenario runs them. */
export const ATTACKS = [
  'budget_pinning',
  'header_flood',
  'preface_less',
  'idle_sessions',
  'per_source_flood',
  'names_flood',
  'nack_flood',
] as const;
export type AttackName = (typeof ATTACKS)[number];

/** The names flood's DeltaDiscoveryRequest body (the e2e attack's own builder): 11 bytes a name. */
export const namesFloodRequest = subscribeMany;
