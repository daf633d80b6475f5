export { Pusher } from './pusher';
export type { PusherOptions, PushBuildResult } from './pusher';
export { Debouncer, nodeTimers } from './debouncer';
export type { DebounceMode, DebounceOptions, DebounceTimers } from './debouncer';
export { Encoder, addressAliases } from './encoder';
export type { MessageMap } from './encoder';
