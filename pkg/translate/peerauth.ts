import type { MtlsMode, PeerAuthenticationObj, StringMap } from '../model';
import { selectorMatches } from './context';
import type { TranslateContext } from './context';
import { AuthzAction, AuthzScope, CONVERTED_PA_PREFIX, STATIC_STRICT_POLICY } from './types';
import type { AuthorizationMsg, RuleMsg } from './types';

/**
 * PeerAuthentication → the L4 deny policies ztunnel enforces, following
 * istiod's ambient conversion (reference §7.4; istio
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
    if (!best) { best = p; continue; }
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

/** Keys of the PeerAuthentication-derived policies a workload must reference. */
export function peerAuthKeysFor(ctx: TranslateContext, ns: string, labels: StringMap): string[] {
  const root = ctx.mesh.rootNamespace;
  const meshCfg = namespacePolicy(ctx, root);
  const nsCfg = ns === root ? undefined : namespacePolicy(ctx, ns);
  const wlCfg =
    ns === root
      ? undefined
      : oldest((ctx.peerAuthsByNs.get(ns) ?? []).filter((p) => hasSelector(p) && selectorMatches(p.selector!, labels)));
  let strict = meshCfg ? isStrict(meshCfg.mode) : false;
  if (nsCfg && !isUnset(nsCfg.mode)) strict = isStrict(nsCfg.mode);
  let portKey: string | undefined;
  if (wlCfg) {
    if (isStrict(wlCfg.mode)) strict = true;
    if (isLax(wlCfg.mode)) strict = false;
    const portModes = Object.values(wlCfg.portLevelMtls ?? {});
    if (wlCfg.portLevelMtls) {
      if (isStrict(wlCfg.mode)) {
        if (portModes.some(isLax)) { portKey = convertedPaKey(wlCfg); strict = false; }
      } else if (isLax(wlCfg.mode)) {
        if (portModes.some(isStrict)) portKey = convertedPaKey(wlCfg);
      } else if (strict) {
        if (portModes.some((m) => m === 'PERMISSIVE')) { portKey = convertedPaKey(wlCfg); strict = false; }
      } else {
        strict = false;
        if (portModes.some(isStrict)) portKey = convertedPaKey(wlCfg);
      }
    }
  }
  const keys: string[] = [];
  if (strict) keys.push(staticStrictKey(root));
  if (portKey) keys.push(portKey);
  return keys.sort();
}

/** The converted form of a selector PA with port-level mTLS, or undefined when none is needed. */
export function convertPeerAuthentication(ctx: TranslateContext, pa: PeerAuthenticationObj): AuthorizationMsg | undefined {
  const root = ctx.mesh.rootNamespace;
  if (pa.namespace === root || !hasSelector(pa) || !pa.portLevelMtls || Object.keys(pa.portLevelMtls).length === 0) return undefined;
  const nsCfg = namespacePolicy(ctx, pa.namespace);
  const rootCfg = namespacePolicy(ctx, root);
  const mode = pa.mode;
  const rules: RuleMsg[] = [];
  const strictPortRules: RuleMsg[] = [];
  let foundNonStrict = false;
  const entries = Object.entries(pa.portLevelMtls).sort((a, b) => Number(a[0]) - Number(b[0]));
  for (const [portStr, portMode] of entries) {
    const port = Number(portStr);
    if (isStrict(portMode)) {
      const parentStrict =
        isStrict(mode) ||
        (isUnset(mode) && nsCfg !== undefined && isStrict(nsCfg.mode)) ||
        ((nsCfg === undefined || isUnset(nsCfg.mode)) && rootCfg !== undefined && isStrict(rootCfg.mode));
      if (parentStrict) continue;
      strictPortRules.push({ clauses: [{ matches: [{ notPrincipals: [{ presence: {} }], destinationPorts: [port] }] }] });
    } else if (isLax(portMode)) {
      if (isLax(mode)) continue;
      if (
        isUnset(mode) &&
        ((nsCfg !== undefined && !isStrict(nsCfg.mode)) ||
          (nsCfg === undefined && rootCfg !== undefined && !isStrict(rootCfg.mode)) ||
          (nsCfg === undefined && rootCfg === undefined))
      ) continue;
      foundNonStrict = true;
      rules.push({ clauses: [{ matches: [{ notDestinationPorts: [port] }] }] });
    }
  }
  if (isStrict(mode) && !foundNonStrict) return undefined;
  if (isStrict(mode)) rules.unshift(denyPlaintext());
  if (rules.length === 0 && strictPortRules.length === 0) return undefined;
  const mergeStrict =
    (rootCfg !== undefined && isStrict(rootCfg.mode) && (nsCfg === undefined || isUnset(nsCfg.mode) || isStrict(nsCfg.mode))) ||
    (nsCfg !== undefined && isStrict(nsCfg.mode));
  if (mergeStrict && foundNonStrict) rules.push(denyPlaintext());
  // istiod's wire form has one Group (our Rule) per strict port, then one Group
  // holding the remaining Rules (our Clauses). The clause-per-Rule shape here
  // flattens that: a Group's Rules are AND-ed, so they become one Rule with
  // several clauses.
  const out: RuleMsg[] = [...strictPortRules];
  if (rules.length > 0) out.push({ clauses: rules.flatMap((r) => r.clauses ?? []) });
  return {
    name: `${CONVERTED_PA_PREFIX}${pa.name}`,
    namespace: pa.namespace,
    scope: AuthzScope.WORKLOAD_SELECTOR,
    action: AuthzAction.DENY,
    rules: out,
  };
}
