import { ipToBytes } from '../model';
import type { EndpointSliceObj } from '../model';
import type { TranslateContext } from './context';
import { NetworkMode, serviceResourceName, WorkloadStatus, workloadUidForEndpoint } from './types';
import type { PortMsg, WorkloadMsg } from './types';
import { sortKeys } from './workload';

/**
 * EndpointSlice endpoints → Workloads, istiod's endpointSlicesBuilder
 * (pilot/pkg/serviceregistry/kube/controller/ambient/workloads.go): the
 * manually managed endpoints of a Service (typically one without a selector)
 * that no Pod backs. Only slices labelled with an existing, non-ExternalName
 * Service count; FQDN slices are skipped. Each endpoint becomes one workload:
 *  - uid <cluster>/discovery.k8s.io/EndpointSlice/<ns>/<slice>/<first address>;
 *  - name = the slice's name, network = the mesh's, no service account,
 *    waypoint, locality or policies (they are only ever destinations);
 *  - services = {the Service: ports}, where each named TCP slice port maps
 *    the Service port of the same name to the slice's port;
 *  - status from conditions.ready (absent = ready);
 *  - network mode HOST_NETWORK: the address may be shared with other things,
 *    so ztunnel must not treat it as uniquely this workload's.
 * A repeated first address within one slice keeps the first endpoint only.
 */
export function buildEndpointSliceWorkloads(slice: EndpointSliceObj, ctx: TranslateContext): WorkloadMsg[] {
  if (!slice.serviceName || slice.addressType === 'FQDN' || slice.endpoints.length === 0) return [];
  const svc = ctx.snapshot.services.get(`${slice.namespace}/${slice.serviceName}`);
  if (!svc || svc.type === 'ExternalName') return [];
  const { mesh } = ctx;
  const ports: PortMsg[] = [];
  for (const p of slice.ports) {
    if (p.port === undefined || p.protocol !== 'TCP') continue;
    // The slice port's name is the Service port's name; its number is the target port.
    const sp = svc.ports.find((s) => (s.name ?? '') === p.name);
    if (sp) ports.push({ servicePort: sp.port, targetPort: p.port });
  }
  const svcKey = serviceResourceName(svc.name, svc.namespace, mesh.domainSuffix);
  const out: WorkloadMsg[] = [];
  const seen = new Set<string>();
  for (const ep of slice.endpoints) {
    if (seen.has(ep.key)) continue;
    seen.add(ep.key);
    const w: WorkloadMsg = {
      uid: workloadUidForEndpoint(mesh.clusterId, slice.namespace, slice.name, ep.key),
      name: slice.name,
      namespace: slice.namespace,
      addresses: ep.addresses.map((a) => ipToBytes(a)!),
      services: { [svcKey]: ports.length > 0 ? { ports: ports.map((p) => ({ ...p })) } : {} },
      networkMode: NetworkMode.HOST_NETWORK,
    };
    if (mesh.network) w.network = mesh.network;
    if (mesh.trustDomain && mesh.trustDomain !== 'cluster.local') w.trustDomain = mesh.trustDomain;
    if (!ep.ready) w.status = WorkloadStatus.UNHEALTHY;
    if (mesh.clusterId) w.clusterId = mesh.clusterId;
    out.push(sortKeys(w));
  }
  return out;
}
