import type { MtlsMode, PeerAuthenticationObj, StringMap } from '../model';
import { selectorMatches } from './context';
import type { TranslateContext } from './context';
import { AuthzAction, AuthzScope, CONVERTED_PA_PREFIX, STATIC_STRICT_POLICY } from './types';
import type { AuthorizationMsg, RuleMsg } from './types';

/**
 * PeerAuthentication → the L4 deny policies ztunnel enforces, following
 * istiod's ambient conversion (istio
 * pilot/pkg/serviceregistry/ambient/authorization.go, behaviour only):
 *  - a static `<root>/istio_converted_static_strict` DENY-plaintext policy,
 *    sent whenever any PeerAuthentication exists, referenced by workloads
 *    whose effective mode is STRICT;
 *  - a converted per-workload policy for selector PAs with port-level mTLS.
 * Precedence: workload selector PA > namespace PA > root-namespace PA; UNSET inherits.
 */

const denyPlaintext = (): RuleMsg => ({ clauses: [{ matches: [{ notPrincipals: [{ presence: {} }] }] }] });

export function staticStrictPolicy(rootNamespace: string): AuthorizationMsg {
  return {
    name: STATIC_STRICT_POLICY,
    namespace: rootNamespace,
    scope: AuthzScope.WORKLOAD_SELECTOR,
    action: AuthzAction.DENY,
    rules: [denyPlaintext()],
  };
}

export const staticStrictKey = (root: string): string => `${root}/${STATIC_STRICT_POLICY}`;
export const convertedPaKey = (pa: PeerAuthenticationObj): string => `${pa.namespace}/${CONVERTED_PA_PREFIX}${pa.name}`;

function hasSelector(pa: PeerAuthenticationObj): boolean {
  return pa.selector !== undefined && Object.keys(pa.selector).length > 0;
}

/** istiod picks the oldest policy on a tie; name breaks ties when timestamps are absent or equal. */
function oldest(l: PeerAuthenticationObj[]): PeerAuthenticationObj | undefined {
  let best: PeerAuthenticationObj | undefined;
  for (const p of l) {
    if (!best) {
      best = p;
      continue;
    }
    const a = p.creationTimestamp ?? '';
    const b = best.creationTimestamp ?? '';
    if (a < b || (a === b && p.name < best.name)) best = p;
  }
  return best;
}

/** The namespace-wide (selector-less) PA in force for a namespace. */
function namespacePolicy(ctx: TranslateContext, ns: string): PeerAuthenticationObj | undefined {
  return oldest((ctx.peerAuthsByNs.get(ns) ?? []).filter((p) => !hasSelector(p)));
}

const isStrict = (m: MtlsMode | undefined): boolean => m === 'STRICT';
const isUnset = (m: MtlsMode | undefined): boolean => m === undefined || m === 'UNSET';
const isLax = (m: MtlsMode | undefined): boolean => m === 'PERMISSIVE' || m === 'DISABLE';

/** Whether peerAuthKeysFor depends on a workload's labels in `ns` (a selector PeerAuthentication there). */
export function peerAuthKeysDependOnLabels(ctx: TranslateContext, ns: string): boolean {
  return ns !== ctx.mesh.rootNamespace && (ctx.peerAuthsByNs.get(ns)?.some(hasSelector) ?? false);
}

/** Keys of the PeerAuthentication-derived policies a workload must reference. */
export function peerAuthKeysFor(ctx: TranslateContext, ns: string, labels: StringMap): readonly string[] {
  // Without selector PAs in the namespace the answer is the namespace's: computed once per context.
  const memo = ctx.peerAuthKeysByNs.get(ns);
  if (memo) return memo;
  if (peerAuthKeysDependOnLabels(ctx, ns)) return workloadPeerAuthKeys(ctx, ns, labels);
  const keys = workloadPeerAuthKeys(ctx, ns, labels);
  ctx.peerAuthKeysByNs.set(ns, keys);
  return keys;
}

function workloadPeerAuthKeys(ctx: TranslateContext, ns: string, labels: StringMap): string[] {
  const root = ctx.mesh.rootNamespace;
  const wlCfg =
    ns === root
      ? undefined
      : oldest((ctx.peerAuthsByNs.get(ns) ?? []).filter((p) => hasSelector(p) && selectorMatches(p.selector!, labels)));
  const strict = wlCfg && !isUnset(wlCfg.mode) ? isStrict(wlCfg.mode) : parentStrict(ctx, ns);
  // A converted port-level policy carries the whole decision (it embeds the
  // STRICT default when there are exemptions), so it replaces the static one.
  if (wlCfg && convertPeerAuthentication(ctx, wlCfg)) return [convertedPaKey(wlCfg)];
  return strict ? [staticStrictKey(root)] : [];
}

/**
 * Whether the namespace / mesh level makes a workload STRICT when its own
 * policy is UNSET. A namespace policy with mode UNSET inherits the root one.
 * (istiod's convertPeerAuthentication treats a namespace UNSET policy as
 * not-strict, so it drops the exception policy that the workload still
 * references; we resolve inheritance the same way for both, so the workload
 * never points at a policy that does not exist.)
 */
function parentStrict(ctx: TranslateContext, ns: string): boolean {
  const nsCfg = namespacePolicy(ctx, ns);
  if (nsCfg && !isUnset(nsCfg.mode)) return isStrict(nsCfg.mode);
  const rootCfg = namespacePolicy(ctx, ctx.mesh.rootNamespace);
  return rootCfg ? isStrict(rootCfg.mode) : false;
}

/** The converted form of a selector PA with port-level mTLS, or undefined when none is needed. */
export function convertPeerAuthentication(
  ctx: TranslateContext,
  pa: PeerAuthenticationObj,
): AuthorizationMsg | undefined {
  const root = ctx.mesh.rootNamespace;
  if (pa.namespace === root || !hasSelector(pa) || !pa.portLevelMtls || Object.keys(pa.portLevelMtls).length === 0)
    return undefined;
  const parent = parentStrict(ctx, pa.namespace);
  const mode = pa.mode;
  // The mode in force on ports without an override.
  const effectiveStrict = isStrict(mode) || (isUnset(mode) && parent);
  const exemptions: RuleMsg[] = [];
  const strictPortRules: RuleMsg[] = [];
  const entries = Object.entries(pa.portLevelMtls).sort((a, b) => Number(a[0]) - Number(b[0]));
  for (const [portStr, portMode] of entries) {
    const port = Number(portStr);
    if (isStrict(portMode)) {
      // Already covered when the rest of the workload is STRICT.
      if (effectiveStrict) continue;
      strictPortRules.push({
        clauses: [{ matches: [{ notPrincipals: [{ presence: {} }], destinationPorts: [port] }] }],
      });
    } else if (isLax(portMode)) {
      if (!effectiveStrict) continue;
      exemptions.push({ clauses: [{ matches: [{ notDestinationPorts: [port] }] }] });
    }
  }
  const rules: RuleMsg[] = [...strictPortRules];
  // STRICT with exemptions: deny plaintext AND port not exempted (one Rule: clauses are AND-ed).
  if (effectiveStrict && exemptions.length > 0) {
    rules.push({ clauses: [...denyPlaintext().clauses!, ...exemptions.flatMap((r) => r.clauses ?? [])] });
  }
  if (rules.length === 0) return undefined;
  return {
    name: `${CONVERTED_PA_PREFIX}${pa.name}`,
    namespace: pa.namespace,
    scope: AuthzScope.WORKLOAD_SELECTOR,
    action: AuthzAction.DENY,
    rules,
  };
}
