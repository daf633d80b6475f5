import { canonicalIp } from '../model';
import type { EndpointObj, EndpointSliceObj, EndpointSlicePortObj } from '../model';
import { arr, bool, fail, int, obj, reqStr, str, strMap } from './validate';
import type { Meta } from './normalize-core';

/** discovery.k8s.io/v1 LabelServiceName: which Service a slice belongs to. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** endpointslice.kubernetes.io/managed-by value of the slices kube-controller-manager makes for selector Services. */
const MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
const CONTROLLER = 'endpointslice-controller.k8s.io';

const ADDRESS_TYPES = new Set(['IPv4', 'IPv6', 'FQDN']);

/**
 * EndpointSlice → the little translation reads (istiod's endpointSlicesBuilder):
 * the owning Service's name, the ports, the endpoints NOT backed by a Pod,
 * and (for slices the endpointslice controller does not manage) which Pods
 * it lists.
 * Every address of an IP slice is validated (a malformed one rejects the
 * slice, like a Pod's status.podIPs); FQDN slices and slices without the
 * service-name label keep no endpoints, since istiod builds nothing from them.
 * Missing port name/protocol get the API server's defaults ('' / TCP) so a
 * file-registry slice means what the same slice means once applied.
 */
export function normEndpointSlice(m: Meta): EndpointSliceObj {
  const md = obj(m.raw['metadata'], 'metadata')!;
  const labels = strMap(md['labels'], 'metadata.labels', (k) => k === SERVICE_NAME_LABEL || k === MANAGED_BY);
  const controllerManaged = labels[MANAGED_BY] === CONTROLLER;
  const addressType = reqStr(m.raw['addressType'], 'addressType');
  if (!ADDRESS_TYPES.has(addressType)) fail('addressType', `"${addressType}" is not one of IPv4, IPv6, FQDN`);
  const ports: EndpointSlicePortObj[] = arr(m.raw['ports'], 'ports').map((p, i) => {
    const path = `ports[${i}]`;
    const po = obj(p, path) ?? fail(path, 'must be an object');
    const out: { -readonly [K in keyof EndpointSlicePortObj]: EndpointSlicePortObj[K] } = {
      name: m.intern(str(po['name'], `${path}.name`) ?? ''),
      protocol: m.intern(str(po['protocol'], `${path}.protocol`) ?? 'TCP'),
    };
    const port = int(po['port'], `${path}.port`, 1, 65535);
    if (port !== undefined) out.port = port;
    return out;
  });
  const ipSlice = addressType !== 'FQDN';
  const serviceName = labels[SERVICE_NAME_LABEL] || undefined;
  const endpoints: EndpointObj[] = [];
  const podRefs = new Set<string>();
  arr(m.raw['endpoints'], 'endpoints').forEach((e, i) => {
    const path = `endpoints[${i}]`;
    const eo = obj(e, path) ?? fail(path, 'must be an object');
    const raw = arr(eo['addresses'], `${path}.addresses`).map((a, j) => reqStr(a, `${path}.addresses[${j}]`));
    const addresses = ipSlice
      ? raw.map((a, j) => canonicalIp(a) ?? fail(`${path}.addresses[${j}]`, `"${a}" is not a valid IP address`))
      : raw;
    const cond = obj(eo['conditions'], `${path}.conditions`) ?? {};
    const ready = bool(cond['ready'], `${path}.conditions.ready`) ?? true;
    const ref = obj(eo['targetRef'], `${path}.targetRef`);
    const podBacked = ref !== undefined && str(ref['kind'], `${path}.targetRef.kind`) === 'Pod';
    if (!ipSlice || !serviceName) return;
    if (podBacked) {
      const name = str(ref['name'], `${path}.targetRef.name`);
      const ns = str(ref['namespace'], `${path}.targetRef.namespace`) || m.namespace;
      // Same namespace only: a Service's workloads live in its namespace (istiod's Service lookup is by the slice's
      // namespace too).
      if (!controllerManaged && name && ns === m.namespace) podRefs.add(`${m.namespace}/${name}`);
      return;
    }
    if (raw.length === 0) return;
    endpoints.push({ addresses, key: raw[0]!, ready });
  });
  const out: { -readonly [K in keyof EndpointSliceObj]: EndpointSliceObj[K] } = {
    kind: 'EndpointSlice',
    name: m.name,
    namespace: m.namespace,
    addressType: m.intern(addressType),
    ports,
    endpoints,
  };
  if (serviceName) out.serviceName = serviceName;
  if (podRefs.size > 0) out.podRefs = [...podRefs].sort();
  return out;
}
