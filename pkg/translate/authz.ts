import { parseCidr } from '../model';
import type { AuthorizationPolicyObj, AuthzRule } from '../model';
import { AuthzAction, AuthzScope } from './types';
import type {
  AuthorizationMsg,
  MatchMsg,
  RuleMsg,
  SecurityAddressMsg,
  ServiceAccountMatchMsg,
  StringMatchMsg,
} from './types';

/**
 * AuthorizationPolicy → istio.security.Authorization, istiod's
 * convertAuthorizationPolicy semantics (istio pilot/pkg/serviceregistry/ambient/authorization.go).
 */

/** `when` keys ztunnel can evaluate at L4; any other key is an HTTP attribute. */
const L4_WHEN = new Set(['source.ip', 'source.namespace', 'source.principal', 'destination.ip', 'destination.port']);

/** `*` → presence, `*x` → suffix, `x*` → prefix, else exact. */
export function stringMatch(v: string): StringMatchMsg {
  if (v === '*') return { presence: {} };
  if (v.startsWith('*')) return { suffix: v.slice(1) };
  if (v.endsWith('*')) return { prefix: v.slice(0, -1) };
  return { exact: v };
}

/** ztunnel compares principals without the spiffe:// prefix (src/rbac.rs): a prefixed one never matches. */
function principalMatch(v: string): StringMatchMsg {
  return stringMatch(v.startsWith('spiffe://') ? v.slice('spiffe://'.length) : v);
}

function ports(l: readonly string[] | undefined): number[] {
  const out: number[] = [];
  for (const p of l ?? []) {
    if (!/^\d+$/.test(p)) continue;
    const n = Number(p);
    if (n <= 65535) out.push(n);
  }
  return out;
}

function ips(l: readonly string[] | undefined): SecurityAddressMsg[] {
  const out: SecurityAddressMsg[] = [];
  for (const s of l ?? []) {
    const c = parseCidr(s);
    // istiod skips values that do not parse; ztunnel would drop them anyway.
    if (c) out.push({ address: c.bytes, length: c.length });
  }
  return out;
}

function serviceAccounts(l: readonly string[] | undefined, ns: string): ServiceAccountMatchMsg[] {
  return (l ?? []).map((v) => {
    const i = v.indexOf('/');
    return i >= 0 ? { namespace: v.slice(0, i), serviceAccount: v.slice(i + 1) } : { namespace: ns, serviceAccount: v };
  });
}

/** Builds a Match from optional lists, omitting empty ones (protobufjs default form). */
function match(fields: { [K in keyof MatchMsg]: MatchMsg[K] }): MatchMsg {
  const m: MatchMsg = {};
  for (const [k, v] of Object.entries(fields) as [keyof MatchMsg, unknown[] | undefined][]) {
    if (v && v.length > 0) (m as Record<string, unknown>)[k] = v;
  }
  return m;
}

/** One AP rule → clauses; `l7` reports whether HTTP-only attributes were present. */
function convertRule(rule: AuthzRule, ns: string): { rule: RuleMsg; l7: boolean } {
  let l7 = false;
  const clauses: RuleMsg['clauses'] = [];
  const to = rule.to.map((op) => {
    if (
      op.hosts?.length ||
      op.notHosts?.length ||
      op.methods?.length ||
      op.notMethods?.length ||
      op.paths?.length ||
      op.notPaths?.length
    )
      l7 = true;
    return match({ destinationPorts: ports(op.ports), notDestinationPorts: ports(op.notPorts) });
  });
  if (to.length > 0) clauses.push({ matches: to });
  const from = rule.from.map((s) => {
    if (
      s.remoteIpBlocks?.length ||
      s.notRemoteIpBlocks?.length ||
      s.requestPrincipals?.length ||
      s.notRequestPrincipals?.length ||
      s.trustDomains?.length ||
      s.notTrustDomains?.length
    )
      l7 = true;
    return match({
      sourceIps: ips(s.ipBlocks),
      notSourceIps: ips(s.notIpBlocks),
      namespaces: (s.namespaces ?? []).map(stringMatch),
      notNamespaces: (s.notNamespaces ?? []).map(stringMatch),
      serviceAccounts: serviceAccounts(s.serviceAccounts, ns),
      notServiceAccounts: serviceAccounts(s.notServiceAccounts, ns),
      principals: (s.principals ?? []).map(principalMatch),
      notPrincipals: (s.notPrincipals ?? []).map(principalMatch),
    });
  });
  if (from.length > 0) clauses.push({ matches: from });
  for (const w of rule.when) {
    if (!L4_WHEN.has(w.key)) l7 = true;
    const pick = <T>(key: string, f: (v: readonly string[] | undefined) => T[], neg: boolean): T[] =>
      w.key === key ? f(neg ? w.notValues : w.values) : [];
    const strs = (v: readonly string[] | undefined): StringMatchMsg[] => (v ?? []).map(stringMatch);
    const princ = (v: readonly string[] | undefined): StringMatchMsg[] => (v ?? []).map(principalMatch);
    clauses.push({
      matches: [
        match({
          namespaces: pick('source.namespace', strs, false),
          principals: pick('source.principal', princ, false),
          sourceIps: pick('source.ip', ips, false),
          destinationPorts: pick('destination.port', ports, false),
          destinationIps: pick('destination.ip', ips, false),
          notNamespaces: pick('source.namespace', strs, true),
          notPrincipals: pick('source.principal', princ, true),
          notSourceIps: pick('source.ip', ips, true),
          notDestinationPorts: pick('destination.port', ports, true),
          notDestinationIps: pick('destination.ip', ips, true),
        }),
      ],
    });
  }
  return { rule: clauses.length > 0 ? { clauses } : {}, l7 };
}

/**
 * Returns undefined for policies ztunnel must not see: targetRef policies
 * (waypoint-only) and AUDIT/CUSTOM actions.
 */
export function convertAuthorizationPolicy(
  ap: AuthorizationPolicyObj,
  rootNamespace: string,
): AuthorizationMsg | undefined {
  if (ap.hasTargetRef) return undefined;
  if (ap.action !== 'ALLOW' && ap.action !== 'DENY') return undefined;
  const action = ap.action === 'DENY' ? AuthzAction.DENY : AuthzAction.ALLOW;
  const scope = ap.selector
    ? AuthzScope.WORKLOAD_SELECTOR
    : ap.namespace === rootNamespace
      ? AuthzScope.GLOBAL
      : AuthzScope.NAMESPACE;
  const rules: RuleMsg[] = [];
  for (const r of ap.rules ?? []) {
    const { rule, l7 } = convertRule(r, ap.namespace);
    // HTTP attributes: an ALLOW rule is dropped entirely (more restrictive); a
    // DENY rule keeps its L4 parts (the HTTP fields were simply not emitted).
    if (l7 && action === AuthzAction.ALLOW) continue;
    rules.push(rule);
  }
  const out: AuthorizationMsg = { name: ap.name, namespace: ap.namespace };
  if (scope !== AuthzScope.GLOBAL) out.scope = scope;
  if (action !== AuthzAction.ALLOW) out.action = action;
  if (rules.length > 0) out.rules = rules;
  if (ap.dryRun) out.dryRun = true;
  return out;
}
