import type { OptionSpec } from './option-spec';

/** runtime.* and drainDeadline: process-level tuning (heap, GC, file descriptors, connections) and shutdown. */
export const RUNTIME_OPTIONS: readonly OptionSpec[] = [
  {
    path: 'runtime.heapGrowthPercent',
    kind: 'int',
    default: 25,
    min: 0,
    max: 300,
    env: ['AMBIENTD_HEAP_GROWTH_PERCENT'],
    help:
      "How far the JS heap may grow past the live data before the next full collection (like Go's GOGC, which " +
      "istiod uses). 0 = V8's own choice, which on hosts with much memory lets the heap reach 4x the live data.",
  },
  {
    path: 'runtime.gcAfterBurst',
    kind: 'duration',
    default: 10_000,
    env: ['AMBIENTD_GC_AFTER_BURST'],
    help:
      'After a burst of pushes (a first sync, a resync: runtime.gcBurstResources or more), one full collection ' +
      'once fewer than 1,000 resources were pushed in a window this long. The collection pauses the process (~0.2 ' +
      's at 120 MiB of live heap), so small bursts do not trigger it. 0 = never.',
  },
  {
    path: 'runtime.gcBurstResources',
    kind: 'int',
    default: 50_000,
    min: 1,
    env: ['AMBIENTD_GC_BURST_RESOURCES'],
    help: 'Resources pushed since the last such collection that make a burst (see runtime.gcAfterBurst).',
  },
  {
    path: 'runtime.fdReserve',
    kind: 'int',
    default: 256,
    min: 16,
    env: ['AMBIENTD_FD_RESERVE'],
    help:
      "File descriptors kept for the daemon's own work (registry scans, state writes, certificate files, admin): " +
      'the gRPC port accepts at most RLIMIT_NOFILE minus this many connections, so a connection flood hits that ' +
      'limit before a file read fails.',
  },
  {
    path: 'runtime.maxConnections',
    kind: 'int',
    default: 0,
    min: 0,
    env: ['AMBIENTD_MAX_CONNECTIONS'],
    help:
      'Most concurrent gRPC connections; 0 = derived from the soft RLIMIT_NOFILE minus runtime.fdReserve. A value ' +
      'above that derived figure is lowered to it.',
  },
  {
    path: 'drainDeadline',
    kind: 'duration',
    default: 10_000,
    env: ['AMBIENTD_DRAIN_DEADLINE', 'TERMINATION_DRAIN_DURATION'],
    help: 'Graceful shutdown deadline.',
  },
];
