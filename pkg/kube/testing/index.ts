// Test helpers for pkg/kube and e2e/kube (not part of the published package).
export { FakeApiServer } from './fake-apiserver';
export type { Failure, RecordedRequest } from './fake-apiserver';
export { RecordingSink, captureLogger } from './recording-sink';
export type { SinkChange } from './recording-sink';
