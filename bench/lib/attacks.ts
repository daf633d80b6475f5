/** The attacks of bench/sim/attack-sim.ts, in the order the attack scenario runs them. */
export const ATTACKS = [
  'budget_pinning', 'header_flood', 'preface_less', 'idle_sessions', 'per_source_flood', 'names_flood', 'nack_flood',
] as const;
export type AttackName = (typeof ATTACKS)[number];
