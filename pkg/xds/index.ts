export { ResourceCache, entryFromBytes, entryFromFrame } from './cache';
export type { CacheEntry, TypeCommit, CommitMeta, Cursor } from './cache';
export { Subscription } from './subscription';
export { XdsStream } from './stream';
export type { StreamSink, StreamStatus, TypeStatus } from './stream';
export { XdsServer, ADS_DELTA_PATH, metadataToRecord } from './server';
export type { XdsServerOptions, XdsCallContext } from './server';
export { createXdsMetrics, shortType } from './metrics';
export type { XdsMetrics } from './metrics';
