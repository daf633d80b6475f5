import { ipToBytes, ANNOTATION } from '../model';
import type { ServiceObj } from '../model';
import type { TranslateContext } from './context';
import { AppProtocol, IPFamilies, LbHealthPolicy, LbMode, LbScope, serviceHostname } from './types';
import type { LoadBalancingMsg, NetworkAddressMsg, PortMsg, ServiceMsg } from './types';

/**
 * Service port → ztunnel AppProtocol hint from appProtocol, else the port-name prefix (Istio's protocol selection).
 */
export function appProtocol(appProto: string | undefined, name: string | undefined): number {
  const fromName = name ? name.split('-')[0] : undefined;
  const p = (appProto ?? fromName ?? '').toLowerCase();
  switch (p) {
    case 'http':
    case 'http1':
      return AppProtocol.HTTP11;
    case 'http2':
    case 'kubernetes.io/h2c':
      return AppProtocol.HTTP2;
    case 'grpc':
      return AppProtocol.GRPC;
    default:
      return AppProtocol.UNKNOWN;
  }
}

/**
 * Load balancing, istiod's constructService (pilot/pkg/serviceregistry/ambient/services.go):
 * internalTrafficPolicy Local → [NODE] STRICT; otherwise trafficDistribution
 * (annotation networking.istio.io/traffic-distribution, else spec) selects a
 * FAILOVER preference list; `Any` and unknown values leave it unset (spread).
 * UNSPECIFIED_SCOPE is never emitted (ztunnel NACKs it).
 */
function loadBalancing(svc: ServiceObj): LoadBalancingMsg | undefined {
  let lb: LoadBalancingMsg | undefined;
  if (svc.internalTrafficPolicy === 'Local') {
    lb = { routingPreference: [LbScope.NODE], mode: LbMode.STRICT };
  } else {
    const td = svc.annotations[ANNOTATION.trafficDistribution] ?? svc.trafficDistribution;
    switch (td) {
      case 'PreferClose':
      case 'PreferSameZone':
        lb = { routingPreference: [LbScope.NETWORK, LbScope.REGION, LbScope.ZONE], mode: LbMode.FAILOVER };
        break;
      case 'PreferSameNode':
        lb = {
          routingPreference: [LbScope.NETWORK, LbScope.REGION, LbScope.ZONE, LbScope.SUBZONE, LbScope.NODE],
          mode: LbMode.FAILOVER,
        };
        break;
      // Solo's peering values: Solo documents the behaviour, not the scope lists; these lists are ours.
      case 'PreferNetwork':
        lb = { routingPreference: [LbScope.NETWORK], mode: LbMode.FAILOVER };
        break;
      case 'PreferRegion':
        lb = { routingPreference: [LbScope.NETWORK, LbScope.REGION], mode: LbMode.FAILOVER };
        break;
      default:
        break;
    }
  }
  if (svc.publishNotReadyAddresses) lb = { ...(lb ?? {}), healthPolicy: LbHealthPolicy.ALLOW_ALL };
  return lb;
}

function ipFamilies(svc: ServiceObj): number {
  const v4 = svc.ipFamilies.includes('IPv4');
  const v6 = svc.ipFamilies.includes('IPv6');
  if (v4 && v6) return IPFamilies.DUAL;
  if (v4) return IPFamilies.IPV4_ONLY;
  if (v6) return IPFamilies.IPV6_ONLY;
  return IPFamilies.AUTOMATIC;
}

/** Service → istio.workload.Service; ExternalName services are not sent (istiod skips them). */
export function buildService(svc: ServiceObj, ctx: TranslateContext): ServiceMsg | undefined {
  if (svc.type === 'ExternalName') return undefined;
  const { mesh } = ctx;
  const out: ServiceMsg = {
    name: svc.name,
    namespace: svc.namespace,
    hostname: serviceHostname(svc.name, svc.namespace, mesh.domainSuffix),
  };
  const addresses: NetworkAddressMsg[] = [];
  for (const ip of svc.clusterIPs) {
    const b = ipToBytes(ip);
    if (!b) continue;
    addresses.push(mesh.network ? { network: mesh.network, address: b } : { address: b });
  }
  if (addresses.length > 0) out.addresses = addresses;
  const ports: PortMsg[] = svc.ports.map((p) => {
    const m: PortMsg = { servicePort: p.port };
    // Named target ports are resolved per workload (Workload.services); 0 = "ask the workload".
    if (typeof p.targetPort === 'number') m.targetPort = p.targetPort;
    const ap = appProtocol(p.appProtocol, p.name);
    if (ap !== AppProtocol.UNKNOWN) m.appProtocol = ap;
    return m;
  });
  if (ports.length > 0) out.ports = ports;
  const lb = loadBalancing(svc);
  if (lb) out.loadBalancing = lb;
  const fam = ipFamilies(svc);
  if (fam !== IPFamilies.AUTOMATIC) out.ipFamilies = fam;
  out.canonical = true;
  return out;
}
