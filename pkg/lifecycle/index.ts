export { systemClock, waitFor, Backoff } from './lifecycle';
export type { Clock, Component, BackoffOptions } from './lifecycle';
export { AfterBurst } from './after-burst';
export type { AfterBurstOptions } from './after-burst';
