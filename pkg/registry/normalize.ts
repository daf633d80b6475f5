import { CLUSTER_SCOPED, objectKey } from '../model';
import type { Kind, ModelObj } from '../model';
import { normNamespace, normNode, normPod, normService, normWorkloadEntry } from './normalize-core';
import type { Meta } from './normalize-core';
import { normEndpointSlice } from './normalize-endpoints';
import { normAuthorizationPolicy, normGateway, normPeerAuthentication } from './normalize-policy';
import { deepFreeze, Invalid, isObj, namespaceName, obj, objectName, str } from './validate';

export type RawObject = Record<string, unknown>;

/**
 * Which API group each supported kind must come from (so e.g. an Istio networking Gateway is not a Gateway API one).
 */
const GROUPS: Record<Kind, readonly string[]> = {
  Namespace: [''],
  Service: [''],
  Pod: [''],
  Node: [''],
  WorkloadEntry: ['networking.istio.io'],
  AuthorizationPolicy: ['security.istio.io'],
  PeerAuthentication: ['security.istio.io'],
  Gateway: ['gateway.networking.k8s.io'],
  EndpointSlice: ['discovery.k8s.io'],
};

const NORMALISERS: Record<Kind, (m: Meta) => ModelObj> = {
  Namespace: normNamespace,
  Service: normService,
  Pod: normPod,
  Node: normNode,
  WorkloadEntry: normWorkloadEntry,
  AuthorizationPolicy: normAuthorizationPolicy,
  PeerAuthentication: normPeerAuthentication,
  Gateway: normGateway,
  EndpointSlice: normEndpointSlice,
};

export type NormaliseResult =
  | { status: 'ok'; kind: Kind; key: string; obj: ModelObj }
  /** key is set when the object could be identified, so its last good version can be kept. */
  | { status: 'invalid'; kind: string; key?: string; reason: string }
  | { status: 'unknown'; kind: string };

export interface Identity {
  kind: string;
  known?: Kind;
  key?: string;
  name?: string;
  namespace?: string;
}

/** Reads kind, group, name and namespace without validating the rest. */
export function identify(raw: unknown): Identity {
  if (!isObj(raw)) return { kind: '' };
  const kind = typeof raw['kind'] === 'string' ? raw['kind'] : '';
  const apiVersion = typeof raw['apiVersion'] === 'string' ? raw['apiVersion'] : '';
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  const k = kind as Kind;
  const known = Object.prototype.hasOwnProperty.call(GROUPS, kind) && GROUPS[k].includes(group) ? k : undefined;
  const label = group ? `${group}/${kind}` : kind;
  const md = isObj(raw['metadata']) ? raw['metadata'] : {};
  const name = typeof md['name'] === 'string' && md['name'] ? md['name'] : undefined;
  let namespace: string | undefined;
  if (known && !CLUSTER_SCOPED.has(known)) {
    namespace = typeof md['namespace'] === 'string' && md['namespace'] ? md['namespace'] : 'default';
  }
  const id: Identity = { kind: known ?? label };
  if (known) id.known = known;
  if (name) {
    id.name = name;
    if (known) id.key = objectKey({ kind: known, name, namespace: namespace ?? '' });
  }
  if (namespace) id.namespace = namespace;
  return id;
}

const noIntern = (s: string): string => s;

/**
 * Validates and normalises one raw object; never throws. `intern` (the
 * registry's StringPool) lets equal strings be shared between objects.
 */
export function normalise(raw: unknown, intern: (s: string) => string = noIntern): NormaliseResult {
  const id = identify(raw);
  if (!isObj(raw)) return { status: 'invalid', kind: '', reason: 'document is not an object' };
  if (!id.kind) return { status: 'invalid', kind: '', reason: 'kind: is required' };
  if (!id.known) return { status: 'unknown', kind: id.kind };
  const kind = id.known;
  const invalid = (reason: string): NormaliseResult => {
    const r: NormaliseResult = { status: 'invalid', kind, reason };
    if (id.key) r.key = id.key;
    return r;
  };
  try {
    const md = obj(raw['metadata'], 'metadata');
    if (!md) return invalid('metadata: is required');
    const name = objectName(md['name'], 'metadata.name');
    let namespace = '';
    if (!CLUSTER_SCOPED.has(kind)) {
      namespace = str(md['namespace'], 'metadata.namespace') || 'default';
      namespaceName(namespace, 'metadata.namespace');
    }
    const meta: Meta = {
      name,
      namespace: intern(namespace),
      intern,
      raw,
      spec: obj(raw['spec'], 'spec') ?? {},
      status: obj(raw['status'], 'status') ?? {},
    };
    const o = deepFreeze(NORMALISERS[kind](meta));
    return { status: 'ok', kind, key: objectKey({ kind, name, namespace }), obj: o };
  } catch (e) {
    if (e instanceof Invalid) return invalid(e.message);
    return invalid(`internal error: ${(e as Error).message}`);
  }
}
