/** Well-known labels and annotations read by translation and peering. */
export const LABEL = {
  network: 'topology.istio.io/network',
  cluster: 'topology.istio.io/cluster',
  region: 'topology.kubernetes.io/region',
  zone: 'topology.kubernetes.io/zone',
  subzone: 'topology.istio.io/subzone',
  dataplaneMode: 'istio.io/dataplane-mode',
  tunnel: 'networking.istio.io/tunnel',
  serviceScope: 'solo.io/service-scope',
  serviceTakeover: 'solo.io/service-takeover',
  istioGlobal: 'istio.io/global',
  canonicalName: 'service.istio.io/canonical-name',
  canonicalRevision: 'service.istio.io/canonical-revision',
  workloadName: 'service.istio.io/workload-name',
  k8sAppName: 'app.kubernetes.io/name',
  k8sAppVersion: 'app.kubernetes.io/version',
  app: 'app',
  version: 'version',
  exposeIstiod: 'istio.io/expose-istiod',
} as const;

export const ANNOTATION = {
  redirection: 'ambient.istio.io/redirection',
  trafficDistribution: 'networking.istio.io/traffic-distribution',
  gatewayServiceAccount: 'gateway.istio.io/service-account',
  gatewayTrustDomain: 'gateway.istio.io/trust-domain',
  dryRun: 'istio.io/dry-run',
  /** Prefix: every peering.solo.io/* annotation is kept. */
  peeringPrefix: 'peering.solo.io/',
} as const;
