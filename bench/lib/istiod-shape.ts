import type { RawObject } from '../../pkg/registry';

/**
 * istiod's `serviceentry-workloadentry` benchmark mesh (istio/istio
 * pilot/pkg/xds/testdata/benchmarks/serviceentry-workloadentry.yaml with
 * Services = 100, Instances = 1000) in the objects ambientd's registry takes.
 * ambientd has no ServiceEntry, so each ServiceEntry becomes a Kubernetes
 * Service with the same four ports and the same selector; its STATIC endpoint
 * (1.1.1.1, the benchmark proxy) becomes a WorkloadEntry. Address resources:
 * 101 services + 1,001 workloads = 1,102, as istiod's benchmark serves.
 */
export const ISTIOD_SHAPE = { services: 100, instances: 1000, addresses: 1102 } as const;

const PORTS = [
  { name: 'http', port: 80, targetPort: 80, appProtocol: 'http' },
  { name: 'tcp', port: 7070, targetPort: 7070, appProtocol: 'tcp' },
  { name: 'https', port: 443, targetPort: 443, appProtocol: 'https' },
  { name: 'auto', port: 9090, targetPort: 9090 },
];

const ns = 'default';

function service(name: string, app: string, vip: string): RawObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { clusterIP: vip, selector: { app }, ports: PORTS },
  };
}

export function workloadEntry(name: string, app: string, address: string, sa = 'random'): RawObject {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'WorkloadEntry',
    metadata: { name, namespace: ns },
    spec: { serviceAccount: sa, address, labels: { app } },
  };
}

/** WorkloadEntry random-j's address, as the template writes it: 240.241.(j div 255).(j mod 255). */
export const instanceIp = (j: number): string => `240.241.${Math.floor(j / 255)}.${j % 255}`;

export function istiodShapeObjects(): RawObject[] {
  const out: RawObject[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'istio.io/dataplane-mode': 'ambient' } } },
    service('proxy-service-instance', 'proxy-instance', '10.96.255.1'),
    workloadEntry('proxy-instance', 'proxy-instance', '1.1.1.1', 'default'),
  ];
  for (let i = 0; i < ISTIOD_SHAPE.services; i++) {
    out.push(service(`service-${i}`, `random-${i}`, `10.96.${i >> 8}.${i & 255}`));
  }
  for (let j = 0; j < ISTIOD_SHAPE.instances; j++) {
    out.push(workloadEntry(`random-${j}`, `random-${j % ISTIOD_SHAPE.services}`, instanceIp(j)));
  }
  return out;
}
