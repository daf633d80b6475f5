export { Pusher } from './pusher';
export type { PusherOptions, PushBuildResult } from './pusher';
export { Debouncer, nodeTimers } from './debouncer';
export type { DebounceMode, DebounceOptions, DebounceTimers } from './debouncer';
export { Encoder, addressAliases } from './encoder';
export { PushBuilder } from './push-builder';
export type { Generation, PushBuilderOptions } from './push-builder';
export { MapDeltas, UnconfirmedRemovals, diffMaps, emptyDelta, fullDelta, pick } from './resource-delta';
export type { MessageMap, MessageSource, ResourceDelta } from './resource-delta';
