export { Pusher } from './pusher';
export type { PusherOptions, PushBuildResult } from './pusher';
export { Debouncer } from './debouncer';
export type { DebounceOptions } from './debouncer';
export { Encoder, addressAliases, ipToString } from './encoder';
export type { MessageMap } from './encoder';
