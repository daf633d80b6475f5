import type { OptionSpec } from './option-spec';

/** peering.*: multicluster peering (docs/design/peering-model.md). */
export const PEERING_OPTIONS: readonly OptionSpec[] = [
  {
    path: 'peering.discoverySuffix',
    kind: 'string',
    default: 'mesh.internal',
    env: ['PEERING_DISCOVERY_SUFFIX'],
    help: 'Suffix of global hostnames.',
  },
  {
    path: 'peering.defaultTrafficDistribution',
    kind: 'enum',
    default: 'PreferNetwork',
    values: ['PreferNetwork', 'PreferRegion', 'PreferClose', 'Any'],
    env: ['PEERING_DISCOVERY_DEFAULT_TRAFFIC_DISTRIBUTION'],
    help: 'Traffic distribution of global services without one.',
  },
  {
    path: 'peering.enableFlatNetworks',
    kind: 'bool',
    default: true,
    env: ['PEERING_ENABLE_FLAT_NETWORKS'],
    help: 'Import remote pods directly when a peer shares our network.',
  },
  {
    path: 'peering.peerIdentity',
    kind: 'string',
    default: 'istio-system/istiod',
    env: ['AMBIENTD_PEER_IDENTITY'],
    help: 'Default ns/sa expected of peer daemons.',
  },
  {
    path: 'peering.trustBundles',
    kind: 'map',
    default: {},
    env: ['AMBIENTD_PEERING_TRUST_BUNDLES'],
    help:
      'Roots per peer trust domain: <trust domain>=<PEM file> (env/flag: comma-separated). The local trust domain ' +
      'always uses the mesh bundle; a peer in a trust domain not listed is never dialled or admitted.',
  },
  {
    path: 'peering.disableLegacyMulticluster',
    kind: 'bool',
    default: true,
    env: ['DISABLE_LEGACY_MULTICLUSTER'],
    help: 'Accepted for istiod compatibility; ambientd has no remote-kubeconfig code.',
  },
];
