import type { RawObject, RegistryEvent } from '../../registry';

/** Random Kubernetes objects drawn from small pools, so updates collide with existing objects. */
export class RandomWorld {
  constructor(private readonly r: () => number) {}

  private pick<T>(l: readonly T[]): T {
    return l[Math.floor(this.r() * l.length)]!;
  }
  private chance(p: number): boolean {
    return this.r() < p;
  }

  readonly namespaces = ['istio-system', 'a', 'b', 'c'];
  private readonly apps = ['x', 'y', 'z'];
  private readonly nodes = ['n1', 'n2', 'n3'];

  namespace(): RawObject {
    const labels: Record<string, string> = {};
    if (this.chance(0.5)) labels['istio.io/dataplane-mode'] = 'ambient';
    if (this.chance(0.2)) labels['topology.istio.io/network'] = this.pick(['net-main', 'net-2']);
    return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: this.pick(this.namespaces), labels } };
  }

  node(): RawObject {
    const labels: Record<string, string> = {};
    if (this.chance(0.8)) labels['topology.kubernetes.io/region'] = this.pick(['r1', 'r2']);
    if (this.chance(0.6)) labels['topology.kubernetes.io/zone'] = this.pick(['z1', 'z2']);
    return { apiVersion: 'v1', kind: 'Node', metadata: { name: this.pick(this.nodes), labels } };
  }

  pod(): RawObject {
    const labels: Record<string, string> = { app: this.pick(this.apps) };
    if (this.chance(0.2)) labels['topology.istio.io/network'] = this.pick(['net-main', 'net-2', 'net-3']);
    if (this.chance(0.1)) labels['istio.io/dataplane-mode'] = 'none';
    const status: Record<string, unknown> = {
      phase: this.chance(0.9) ? 'Running' : 'Succeeded',
      conditions: [{ type: 'Ready', status: this.chance(0.8) ? 'True' : 'False' }],
    };
    if (this.chance(0.9)) status['podIP'] = `10.0.${Math.floor(this.r() * 4)}.${1 + Math.floor(this.r() * 250)}`;
    const spec: Record<string, unknown> = {
      serviceAccountName: this.pick(['default', 'sa1']),
      containers: [
        { name: 'c', ports: [{ name: this.pick(['http', 'web']), containerPort: this.pick([8080, 9090]) }] },
      ],
    };
    if (this.chance(0.8)) spec['nodeName'] = this.pick(this.nodes);
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `p${Math.floor(this.r() * 30)}`, namespace: this.pick(this.namespaces), labels },
      spec,
      status,
    };
  }

  workloadEntry(): RawObject {
    return {
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadEntry',
      metadata: { name: `w${Math.floor(this.r() * 5)}`, namespace: this.pick(this.namespaces) },
      spec: {
        address: `192.168.0.${1 + Math.floor(this.r() * 200)}`,
        labels: { app: this.pick(this.apps) },
        ports: this.chance(0.5) ? { http: 8081 } : {},
        ...(this.chance(0.3) ? { network: 'net-2' } : {}),
      },
    };
  }

  service(): RawObject {
    const spec: Record<string, unknown> = {
      clusterIP: this.chance(0.8) ? `10.96.0.${1 + Math.floor(this.r() * 200)}` : 'None',
      ports: [{ name: 'http', port: 80, targetPort: this.pick(['http', 'web', 8080]) }],
    };
    if (this.chance(0.85)) spec['selector'] = { app: this.pick(this.apps) };
    if (this.chance(0.3)) spec['trafficDistribution'] = this.pick(['PreferClose', 'PreferSameNode']);
    return {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `s${Math.floor(this.r() * 8)}`, namespace: this.pick(this.namespaces) },
      spec,
    };
  }

  authorizationPolicy(): RawObject {
    const spec: Record<string, unknown> = { action: this.pick(['ALLOW', 'DENY', 'AUDIT']) };
    if (this.chance(0.6)) spec['selector'] = { matchLabels: { app: this.pick(this.apps) } };
    if (this.chance(0.1)) spec['targetRefs'] = [{ kind: 'Service', name: 'x' }];
    if (this.chance(0.8)) {
      spec['rules'] = [
        {
          from: [
            {
              source: {
                namespaces: [this.pick(this.namespaces)],
                ...(this.chance(0.3) ? { requestPrincipals: ['*'] } : {}),
              },
            },
          ],
          to: [{ operation: { ports: ['80'] } }],
        },
      ];
    }
    return {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: `ap${Math.floor(this.r() * 8)}`, namespace: this.pick(this.namespaces) },
      spec,
    };
  }

  peerAuthentication(): RawObject {
    const spec: Record<string, unknown> = { mtls: { mode: this.pick(['STRICT', 'PERMISSIVE', 'UNSET', 'DISABLE']) } };
    if (this.chance(0.5)) spec['selector'] = { matchLabels: { app: this.pick(this.apps) } };
    if (this.chance(0.4))
      spec['portLevelMtls'] = { [String(this.pick([8080, 9090]))]: { mode: this.pick(['STRICT', 'PERMISSIVE']) } };
    return {
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: { name: `pa${Math.floor(this.r() * 5)}`, namespace: this.pick(this.namespaces) },
      spec,
    };
  }

  gateway(): RawObject {
    return {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: {
        name: `g${Math.floor(this.r() * 2)}`,
        namespace: 'istio-gateways',
        labels: { 'topology.istio.io/network': this.pick(['net-main', 'net-2', 'net-3']) },
      },
      spec: {
        gatewayClassName: 'istio-eastwest',
        addresses: [{ value: `172.18.0.${1 + Math.floor(this.r() * 9)}` }],
        listeners: [{ name: 'cross-network', port: 15008, protocol: 'HBONE' }],
      },
    };
  }

  /** A slice of one of the services (manual endpoints, sometimes Pod-backed or not ready). */
  endpointSlice(): RawObject {
    const n = Math.floor(this.r() * 3);
    const endpoints = Array.from({ length: n }, () => ({
      addresses: [`192.168.7.${1 + Math.floor(this.r() * 4)}`],
      ...(this.chance(0.7) ? { conditions: { ready: this.chance(0.7) } } : {}),
      ...(this.chance(0.2) ? { targetRef: { kind: 'Pod', name: `p${Math.floor(this.r() * 30)}` } } : {}),
    }));
    return {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: `es${Math.floor(this.r() * 4)}`,
        namespace: this.pick(this.namespaces),
        labels: { 'kubernetes.io/service-name': `s${Math.floor(this.r() * 8)}` },
      },
      addressType: 'IPv4',
      ports: [{ name: this.pick(['http', 'other']), port: this.pick([8080, 9090]) }],
      endpoints,
    };
  }

  /** One random upsert (or, one time in five, a delete of a like-named object). */
  event(): RegistryEvent {
    const makers = [
      () => this.pod(),
      () => this.pod(),
      () => this.pod(),
      () => this.service(),
      () => this.namespace(),
      () => this.node(),
      () => this.authorizationPolicy(),
      () => this.peerAuthentication(),
      () => this.workloadEntry(),
      () => this.gateway(),
      () => this.endpointSlice(),
    ];
    const obj = this.pick(makers)();
    return { type: this.chance(0.2) ? 'delete' : 'upsert', obj };
  }
}
