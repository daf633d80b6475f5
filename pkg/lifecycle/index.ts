export { systemClock, waitFor, Backoff } from './lifecycle';
export type { Clock, Component, BackoffOptions } from './lifecycle';
