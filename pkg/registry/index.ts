export { LocalRegistry } from './store';
export { FileSource, parseManifest } from './filesource';
export type { FileSourceOptions, ParsedFile } from './filesource';
export { identitiesOnNode } from './identities';
export { normalise, identify } from './normalize';
export type { RawObject, NormaliseResult, Identity } from './normalize';
export { SNAPSHOT_FIELD, snapshotGet } from './types';
export type { RegistryEvent, Rejection, ChangeSet, RegistrySnapshot } from './types';
export { deepEqual } from './validate';
