import type {
  AuthorizationPolicyObj,
  AuthzCondition,
  AuthzOperation,
  AuthzRule,
  AuthzSource,
  GatewayAddressObj,
  GatewayListenerObj,
  GatewayObj,
  MtlsMode,
  PeerAuthenticationObj,
} from '../model';
import type { Meta } from './normalize-core';
import { arr, fail, obj, port, reqStr, str, strList, strMap } from './validate';
import type { Raw } from './validate';

const SOURCE_FIELDS = [
  'trustDomains',
  'notTrustDomains',
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
  'namespaces',
  'notNamespaces',
  'ipBlocks',
  'notIpBlocks',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
  'serviceAccounts',
  'notServiceAccounts',
] as const;
const OPERATION_FIELDS = [
  'ports',
  'notPorts',
  'hosts',
  'notHosts',
  'methods',
  'notMethods',
  'paths',
  'notPaths',
] as const;

function pickLists<F extends string>(o: Raw, fields: readonly F[], path: string): Partial<Record<F, string[]>> {
  const out: Partial<Record<F, string[]>> = {};
  for (const f of fields) {
    const l = strList(o[f], `${path}.${f}`);
    if (l !== undefined) out[f] = l;
  }
  return out;
}

function selectorOf(spec: Raw): Record<string, string> | undefined {
  const sel = obj(spec['selector'], 'spec.selector');
  if (!sel) return undefined;
  return strMap(sel['matchLabels'], 'spec.selector.matchLabels');
}

const ACTIONS = new Set(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']);

export function normAuthorizationPolicy(m: Meta): AuthorizationPolicyObj {
  const md = obj(m.raw['metadata'], 'metadata')!;
  const s = m.spec;
  const action = str(s['action'], 'spec.action') || 'ALLOW';
  if (!ACTIONS.has(action)) fail('spec.action', `"${action}" is not one of ALLOW, DENY, AUDIT, CUSTOM`);
  let rules: AuthzRule[] | undefined;
  if (s['rules'] !== undefined && s['rules'] !== null) {
    rules = arr(s['rules'], 'spec.rules').map((r, ri) => {
      const rp = `spec.rules[${ri}]`;
      const ro = obj(r, rp) ?? {};
      const from: AuthzSource[] = arr(ro['from'], `${rp}.from`).map((f, fi) => {
        const fo = obj(f, `${rp}.from[${fi}]`) ?? {};
        const src = obj(fo['source'], `${rp}.from[${fi}].source`) ?? {};
        return pickLists(src, SOURCE_FIELDS, `${rp}.from[${fi}].source`);
      });
      const to: AuthzOperation[] = arr(ro['to'], `${rp}.to`).map((t, ti) => {
        const to_ = obj(t, `${rp}.to[${ti}]`) ?? {};
        const op = obj(to_['operation'], `${rp}.to[${ti}].operation`) ?? {};
        const lists = pickLists(op, OPERATION_FIELDS, `${rp}.to[${ti}].operation`);
        for (const f of ['ports', 'notPorts'] as const) {
          lists[f]?.forEach((p, i) => {
            if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 65535)
              fail(`${rp}.to[${ti}].operation.${f}[${i}]`, `"${p}" is not a valid port`);
          });
        }
        return lists;
      });
      const when: AuthzCondition[] = arr(ro['when'], `${rp}.when`).map((w, wi) => {
        const wp = `${rp}.when[${wi}]`;
        const wo = obj(w, wp) ?? fail(wp, 'must be an object');
        const c: { key: string; values?: string[]; notValues?: string[] } = { key: reqStr(wo['key'], `${wp}.key`) };
        const v = strList(wo['values'], `${wp}.values`);
        if (v !== undefined) c.values = v;
        const nv = strList(wo['notValues'], `${wp}.notValues`);
        if (nv !== undefined) c.notValues = nv;
        return c;
      });
      return { from, to, when };
    });
  }
  const hasTargetRef =
    (s['targetRef'] !== undefined && s['targetRef'] !== null) || arr(s['targetRefs'], 'spec.targetRefs').length > 0;
  const annotations = strMap(md['annotations'], 'metadata.annotations', (k) => k === 'istio.io/dry-run');
  const out: { -readonly [K in keyof AuthorizationPolicyObj]: AuthorizationPolicyObj[K] } = {
    kind: 'AuthorizationPolicy',
    name: m.name,
    namespace: m.namespace,
    hasTargetRef,
    action,
    dryRun: annotations['istio.io/dry-run'] === 'true',
  };
  const sel = selectorOf(s);
  if (sel) out.selector = sel;
  if (rules) out.rules = rules;
  return out;
}

const MODES = new Set<MtlsMode>(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT']);

function mode(v: unknown, path: string): MtlsMode {
  const o = obj(v, path);
  if (!o) return 'UNSET';
  const m = str(o['mode'], `${path}.mode`) || 'UNSET';
  if (!MODES.has(m as MtlsMode)) fail(`${path}.mode`, `"${m}" is not one of UNSET, DISABLE, PERMISSIVE, STRICT`);
  return m as MtlsMode;
}

export function normPeerAuthentication(m: Meta): PeerAuthenticationObj {
  const s = m.spec;
  const out: { -readonly [K in keyof PeerAuthenticationObj]: PeerAuthenticationObj[K] } = {
    kind: 'PeerAuthentication',
    name: m.name,
    namespace: m.namespace,
    mode: mode(s['mtls'], 'spec.mtls'),
  };
  const sel = selectorOf(s);
  if (sel) out.selector = sel;
  const md = obj(m.raw['metadata'], 'metadata')!;
  const ts = md['creationTimestamp'];
  if (ts instanceof Date) out.creationTimestamp = ts.toISOString();
  else if (str(ts, 'metadata.creationTimestamp')) out.creationTimestamp = ts as string;
  const pl = obj(s['portLevelMtls'], 'spec.portLevelMtls');
  if (pl) {
    const ports: Record<string, MtlsMode> = {};
    for (const k of Object.keys(pl).sort()) {
      if (!/^\d+$/.test(k)) fail(`spec.portLevelMtls.${k}`, 'key must be a port number');
      port(Number(k), `spec.portLevelMtls.${k}`);
      ports[k] = mode(pl[k], `spec.portLevelMtls.${k}`);
    }
    out.portLevelMtls = ports;
  }
  return out;
}

function addresses(v: unknown, path: string): GatewayAddressObj[] {
  return arr(v, path).map((a, i) => {
    const ao = obj(a, `${path}[${i}]`) ?? fail(`${path}[${i}]`, 'must be an object');
    return {
      type: str(ao['type'], `${path}[${i}].type`) || 'IPAddress',
      value: reqStr(ao['value'], `${path}[${i}].value`),
    };
  });
}

export function normGateway(m: Meta): GatewayObj {
  const md = obj(m.raw['metadata'], 'metadata')!;
  const s = m.spec;
  const listeners: GatewayListenerObj[] = arr(s['listeners'], 'spec.listeners').map((l, i) => {
    const p = `spec.listeners[${i}]`;
    const lo = obj(l, p) ?? fail(p, 'must be an object');
    return {
      name: reqStr(lo['name'], `${p}.name`),
      port: port(lo['port'], `${p}.port`) ?? fail(`${p}.port`, 'is required'),
      protocol: reqStr(lo['protocol'], `${p}.protocol`),
    };
  });
  return {
    kind: 'Gateway',
    name: m.name,
    namespace: m.namespace,
    gatewayClassName: reqStr(s['gatewayClassName'], 'spec.gatewayClassName'),
    labels: strMap(md['labels'], 'metadata.labels'),
    annotations: strMap(
      md['annotations'],
      'metadata.annotations',
      (k) => k !== 'kubectl.kubernetes.io/last-applied-configuration',
    ),
    addresses: addresses(s['addresses'], 'spec.addresses'),
    statusAddresses: addresses(m.status['addresses'], 'status.addresses'),
    listeners,
    generation: typeof md['generation'] === 'number' && Number.isSafeInteger(md['generation']) ? md['generation'] : 0,
  };
}
