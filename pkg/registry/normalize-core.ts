import { bytesToIp, canonicalIp, ipToBytes, LABEL } from '../model';
import type {
  ContainerPortObj,
  NamespaceObj,
  NodeObj,
  PodObj,
  ServiceObj,
  ServicePortObj,
  WorkloadEntryObj,
} from '../model';
import { arr, bool, fail, int, obj, port, reqStr, str, strList, strMap } from './validate';
import type { Raw } from './validate';

/** Metadata common to every kind, already validated by the caller. */
export interface Meta {
  name: string;
  namespace: string;
  raw: Raw;
  spec: Raw;
  status: Raw;
  /** Returns a shared copy of a low-cardinality string (see StringPool). */
  intern: (s: string) => string;
}

const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

function ip(v: string, path: string): string {
  const c = canonicalIp(v);
  if (c === undefined) fail(path, `"${v}" is not a valid IP address`);
  return c;
}

/** An IP's 4/16 bytes; canonicalIp(v) is bytesToIp of them. */
function ipBytes(v: string, path: string): Buffer {
  return ipToBytes(v) ?? fail(path, `"${v}" is not a valid IP address`);
}

export function normNamespace(m: Meta): NamespaceObj {
  const md = obj(m.raw['metadata'], 'metadata')!;
  return { kind: 'Namespace', name: m.name, labels: strMap(md['labels'], 'metadata.labels') };
}

const NODE_LABELS = new Set<string>([LABEL.region, LABEL.zone, LABEL.subzone, LABEL.network]);

/** Node address types the NodePort export can dial (Hostname / InternalDNS are not IPs). */
const NODE_ADDRESS_TYPES = new Set(['InternalIP', 'ExternalIP']);

export function normNode(m: Meta): NodeObj {
  const md = obj(m.raw['metadata'], 'metadata')!;
  const out: { -readonly [K in keyof NodeObj]: NodeObj[K] } = {
    kind: 'Node',
    name: m.name,
    labels: strMap(md['labels'], 'metadata.labels', (k) => NODE_LABELS.has(k)),
  };
  const addresses: { type: 'InternalIP' | 'ExternalIP'; address: string }[] = [];
  for (const [i, a] of arr(m.status['addresses'], 'status.addresses').entries()) {
    const path = `status.addresses[${i}]`;
    const ao = obj(a, path) ?? fail(path, 'must be an object');
    const type = str(ao['type'], `${path}.type`) ?? '';
    if (!NODE_ADDRESS_TYPES.has(type)) continue;
    // An odd address is skipped, not fatal: rejecting the Node would also drop the
    // topology labels every workload on it takes its locality from.
    const address = canonicalIp(str(ao['address'], `${path}.address`) ?? '');
    if (address === undefined) continue;
    if (!addresses.some((x) => x.type === type && x.address === address))
      addresses.push({ type: type as 'InternalIP' | 'ExternalIP', address });
  }
  if (addresses.length > 0) out.addresses = addresses;
  return out;
}

function keepServiceAnnotation(k: string): boolean {
  return (
    k.startsWith('networking.istio.io/') ||
    k.startsWith('solo.io/') ||
    k.startsWith('peering.solo.io/') ||
    k.startsWith('istio.io/')
  );
}

export function normService(m: Meta): ServiceObj {
  const md = obj(m.raw['metadata'], 'metadata')!;
  const s = m.spec;
  const ports: ServicePortObj[] = arr(s['ports'], 'spec.ports').map((p, i) => {
    const path = `spec.ports[${i}]`;
    const po = obj(p, path) ?? fail(path, 'must be an object');
    const portNum = port(po['port'], `${path}.port`) ?? fail(`${path}.port`, 'is required');
    const tp = po['targetPort'];
    let targetPort: number | string;
    if (tp === undefined || tp === null) targetPort = portNum;
    else if (typeof tp === 'number') targetPort = port(tp, `${path}.targetPort`)!;
    else if (typeof tp === 'string') {
      // Kubernetes' IntOrString: a numeric string is a number.
      if (/^\d+$/.test(tp)) targetPort = port(Number(tp), `${path}.targetPort`)!;
      else if (IANA_SVC_NAME.test(tp)) targetPort = tp;
      else fail(`${path}.targetPort`, `"${tp}" is neither a port number nor a port name`);
    } else fail(`${path}.targetPort`, 'must be a number or a port name');
    const out: { -readonly [K in keyof ServicePortObj]: ServicePortObj[K] } = {
      port: portNum,
      targetPort,
      protocol: str(po['protocol'], `${path}.protocol`) ?? 'TCP',
    };
    const name = str(po['name'], `${path}.name`);
    if (name) out.name = name;
    const ap = str(po['appProtocol'], `${path}.appProtocol`);
    if (ap) out.appProtocol = ap;
    // Kubernetes allocates nodePorts in 30000-32767 by default, but the range is configurable.
    const np = port(po['nodePort'], `${path}.nodePort`);
    if (np) out.nodePort = np;
    return out;
  });
  const type = str(s['type'], 'spec.type') ?? 'ClusterIP';
  const ips = new Set<string>();
  const primary = str(s['clusterIP'], 'spec.clusterIP');
  const all = strList(s['clusterIPs'], 'spec.clusterIPs') ?? [];
  for (const [i, v] of [primary, ...all].entries()) {
    if (v === undefined || v === '' || v === 'None') continue;
    ips.add(ip(v, i === 0 ? 'spec.clusterIP' : `spec.clusterIPs[${i - 1}]`));
  }
  const selector = strMap(s['selector'], 'spec.selector');
  const out: { -readonly [K in keyof ServiceObj]: ServiceObj[K] } = {
    kind: 'Service',
    name: m.name,
    namespace: m.namespace,
    labels: strMap(md['labels'], 'metadata.labels'),
    annotations: strMap(md['annotations'], 'metadata.annotations', keepServiceAnnotation),
    type,
    clusterIPs: [...ips],
    ports,
    publishNotReadyAddresses: bool(s['publishNotReadyAddresses'], 'spec.publishNotReadyAddresses') ?? false,
    ipFamilies: strList(s['ipFamilies'], 'spec.ipFamilies') ?? [],
  };
  if (Object.keys(selector).length > 0) out.selector = selector;
  const td = str(s['trafficDistribution'], 'spec.trafficDistribution');
  if (td) out.trafficDistribution = td;
  const itp = str(s['internalTrafficPolicy'], 'spec.internalTrafficPolicy');
  if (itp) out.internalTrafficPolicy = itp;
  const ifp = str(s['ipFamilyPolicy'], 'spec.ipFamilyPolicy');
  if (ifp) out.ipFamilyPolicy = ifp;
  return out;
}

function keepPodAnnotation(k: string): boolean {
  return k.startsWith('ambient.istio.io/') || k.startsWith('networking.istio.io/') || k === 'istio.io/dataplane-mode';
}

/** Most pods name no container port: one shared empty list. */
const NO_PORTS: readonly ContainerPortObj[] = Object.freeze([]);

export function normPod(m: Meta): PodObj {
  const md = obj(m.raw['metadata'], 'metadata')!;
  const s = m.spec;
  const st = m.status;
  const ips: string[] = [];
  // Canonicalising an IP parses it to bytes: kept (ipBytes) for every translation of the pod.
  const bytes: Buffer[] = [];
  const podIPs = arr(st['podIPs'], 'status.podIPs');
  podIPs.forEach((p, i) => {
    const po = obj(p, `status.podIPs[${i}]`) ?? fail(`status.podIPs[${i}]`, 'must be an object');
    const v = reqStr(po['ip'], `status.podIPs[${i}].ip`);
    const b = ipBytes(v, `status.podIPs[${i}].ip`);
    const c = bytesToIp(b);
    if (!ips.includes(c)) {
      ips.push(c);
      bytes.push(b);
    }
  });
  const podIP = str(st['podIP'], 'status.podIP');
  if (podIP) {
    const b = ipBytes(podIP, 'status.podIP');
    const c = bytesToIp(b);
    if (!ips.includes(c)) {
      ips.unshift(c);
      bytes.unshift(b);
    }
  }
  const namedPorts: ContainerPortObj[] = [];
  arr(s['containers'], 'spec.containers').forEach((c, ci) => {
    const co = obj(c, `spec.containers[${ci}]`) ?? fail(`spec.containers[${ci}]`, 'must be an object');
    arr(co['ports'], `spec.containers[${ci}].ports`).forEach((p, pi) => {
      const path = `spec.containers[${ci}].ports[${pi}]`;
      const po = obj(p, path) ?? fail(path, 'must be an object');
      const cp = port(po['containerPort'], `${path}.containerPort`) ?? fail(`${path}.containerPort`, 'is required');
      const name = str(po['name'], `${path}.name`);
      if (name)
        namedPorts.push({
          name: m.intern(name),
          port: cp,
          protocol: m.intern(str(po['protocol'], `${path}.protocol`) ?? 'TCP'),
        });
    });
  });
  let ready = false;
  arr(st['conditions'], 'status.conditions').forEach((c, i) => {
    const co = obj(c, `status.conditions[${i}]`);
    if (co && co['type'] === 'Ready' && co['status'] === 'True') ready = true;
  });
  // Only the controller reference names a workload (istiod's GetDeployMetaFromPod).
  let owner: { kind: string; name: string } | undefined;
  const refs = arr(md['ownerReferences'], 'metadata.ownerReferences');
  for (const [i, r] of refs.entries()) {
    const ro = obj(r, `metadata.ownerReferences[${i}]`);
    if (!ro || ro['controller'] !== true) continue;
    owner = {
      kind: m.intern(str(ro['kind'], `metadata.ownerReferences[${i}].kind`) ?? ''),
      name: m.intern(str(ro['name'], `metadata.ownerReferences[${i}].name`) ?? ''),
    };
    break;
  }
  const out: { -readonly [K in keyof PodObj]: PodObj[K] } = {
    kind: 'Pod',
    name: m.name,
    namespace: m.namespace,
    labels: strMap(md['labels'], 'metadata.labels', undefined, m.intern),
    annotations: strMap(md['annotations'], 'metadata.annotations', keepPodAnnotation),
    // Copies of exactly their length: push grows a backing store to 17 slots, kept for the pod's lifetime.
    ips: ips.slice(),
    serviceAccount: m.intern(
      str(s['serviceAccountName'], 'spec.serviceAccountName') ||
        str(s['serviceAccount'], 'spec.serviceAccount') ||
        'default',
    ),
    hostNetwork: bool(s['hostNetwork'], 'spec.hostNetwork') ?? false,
    phase: m.intern(str(st['phase'], 'status.phase') ?? ''),
    ready,
    deleting: md['deletionTimestamp'] !== undefined && md['deletionTimestamp'] !== null,
    namedPorts: namedPorts.length ? namedPorts.slice() : NO_PORTS,
  };
  const node = str(s['nodeName'], 'spec.nodeName');
  if (node) out.nodeName = m.intern(node);
  if (owner) out.owner = owner;
  const gn = str(md['generateName'], 'metadata.generateName');
  if (gn) out.generateName = m.intern(gn);
  // Not enumerable (see PodObj.ipBytes): registry equality and the object's printed form are unchanged.
  Object.defineProperty(out, 'ipBytes', { value: Object.freeze(bytes.slice()) });
  return out;
}

const HOSTNAME = /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*$/;

export function normWorkloadEntry(m: Meta): WorkloadEntryObj {
  const md = obj(m.raw['metadata'], 'metadata')!;
  const s = m.spec;
  const labels = { ...strMap(md['labels'], 'metadata.labels'), ...strMap(s['labels'], 'spec.labels') };
  const sorted: Record<string, string> = {};
  for (const k of Object.keys(labels).sort()) sorted[k] = labels[k]!;
  const portsRaw = obj(s['ports'], 'spec.ports') ?? {};
  const ports: Record<string, number> = {};
  for (const k of Object.keys(portsRaw).sort()) ports[k] = port(portsRaw[k], `spec.ports.${k}`)!;
  const out: { -readonly [K in keyof WorkloadEntryObj]: WorkloadEntryObj[K] } = {
    kind: 'WorkloadEntry',
    name: m.name,
    namespace: m.namespace,
    labels: sorted,
    annotations: strMap(md['annotations'], 'metadata.annotations', keepPodAnnotation),
    ports,
    serviceAccount: str(s['serviceAccount'], 'spec.serviceAccount') || 'default',
  };
  const addr = str(s['address'], 'spec.address');
  if (addr) {
    const c = canonicalIp(addr);
    if (c !== undefined) out.address = c;
    else if (/^[\d.]+$/.test(addr) || addr.includes(':') || !HOSTNAME.test(addr))
      fail('spec.address', `"${addr}" is not a valid IP address or hostname`);
    else out.address = addr;
  }
  const net = str(s['network'], 'spec.network');
  if (net) out.network = net;
  const loc = str(s['locality'], 'spec.locality');
  if (loc) out.locality = loc;
  const w = int(s['weight'], 'spec.weight', 0, 4294967295);
  if (w !== undefined) out.weight = w;
  return out;
}
