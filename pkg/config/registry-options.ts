import type { OptionSpec } from './option-spec';

/** registry.*: where the cluster's objects come from (file or Kubernetes) and the bounds on parsing them. */
export const REGISTRY_OPTIONS: readonly OptionSpec[] = [
  {
    path: 'registry.type',
    kind: 'enum',
    default: 'file',
    values: ['file', 'kubernetes'],
    env: ['AMBIENTD_REGISTRY'],
    help: 'Where local services/workloads come from.',
  },
  {
    path: 'registry.dir',
    kind: 'string',
    default: 'examples/default/mesh',
    env: ['AMBIENTD_REGISTRY_DIR'],
    help: 'Directory of Kubernetes-shaped YAML for the file registry.',
  },
  {
    path: 'registry.kubeconfig',
    kind: 'string',
    default: '',
    env: ['KUBECONFIG'],
    help: 'kubeconfig path for registry: kubernetes (empty = in-cluster).',
  },
  {
    path: 'registry.context',
    kind: 'string',
    default: '',
    env: ['AMBIENTD_KUBE_CONTEXT'],
    help: 'kubeconfig context.',
  },
  {
    path: 'registry.apiHost',
    kind: 'string',
    default: '',
    env: ['KUBERNETES_SERVICE_HOST'],
    help: 'In-cluster API server host (set by Kubernetes in every pod).',
  },
  {
    path: 'registry.apiPort',
    kind: 'string',
    default: '',
    env: ['KUBERNETES_SERVICE_PORT'],
    help: 'In-cluster API server port (set by Kubernetes in every pod).',
  },
  {
    path: 'registry.syncTimeout',
    kind: 'duration',
    default: 120_000,
    env: ['AMBIENTD_REGISTRY_SYNC_TIMEOUT'],
    help: 'How long start-up waits for the first list of every kind before serving anyway.',
  },
  {
    path: 'registry.maxFileBytes',
    kind: 'int',
    default: 32 * 1024 * 1024,
    min: 1024,
    env: ['AMBIENTD_REGISTRY_MAX_FILE_BYTES'],
    help: 'Largest registry file read; a larger one is rejected whole (its last good objects stay).',
  },
  {
    path: 'registry.maxNodes',
    kind: 'int',
    default: 250_000,
    min: 100,
    env: ['AMBIENTD_REGISTRY_MAX_NODES'],
    help:
      'Most YAML nodes (scalars, collections, aliases) in one registry file, counted before it is parsed (~1 KiB ' +
      'of parser heap each; JSON files may have 10x as many). A larger file is rejected whole.',
  },
  {
    path: 'registry.maxAliases',
    kind: 'int',
    default: 100,
    min: 0,
    env: ['AMBIENTD_REGISTRY_MAX_ALIASES'],
    help: 'Most YAML alias references in one registry file.',
  },
  {
    path: 'registry.maxDepth',
    kind: 'int',
    default: 256,
    min: 16,
    env: ['AMBIENTD_REGISTRY_MAX_DEPTH'],
    help:
      'Deepest nesting in one registry file (flow brackets + block indicators + indentation columns, an upper ' +
      'bound of the real depth).',
  },
  {
    path: 'registry.parseTimeout',
    kind: 'duration',
    default: 30_000,
    env: ['AMBIENTD_REGISTRY_PARSE_TIMEOUT'],
    help:
      'Time budget to parse one registry file (in the parser worker); on overrun the worker is terminated and the ' +
      'file rejected.',
  },
  {
    path: 'registry.parserHeapMb',
    kind: 'int',
    default: 512,
    min: 32,
    env: ['AMBIENTD_REGISTRY_PARSER_HEAP_MB'],
    help:
      'Heap cap of the registry parser worker thread (MiB); a file that needs more is rejected and only the worker ' +
      'restarts.',
  },
];
