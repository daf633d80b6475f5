/**
 * The local registry: single writer of the mesh's Kubernetes-shaped objects.
 * Sources (FileSource here, a Kubernetes watch elsewhere) hand it raw
 * objects; each is validated and normalised alone into a compact model
 * object, rejected objects keep their last good version, and listeners get
 * one ChangeSet per batch that changed something. snapshot() is immutable
 * and cheap (copy-on-write shards).
 */
export { LocalRegistry } from './store';
export { FileSource, parseManifest } from './filesource';
export type { FileSourceOptions, ParsedFile } from './filesource';
export { identitiesOnNode } from './identities';
export { normalise, identify } from './normalize';
export type { RawObject, NormaliseResult, Identity } from './normalize';
export { SNAPSHOT_FIELD, snapshotGet } from './types';
export type { RegistryEvent, Rejection, ChangeSet, RegistrySnapshot } from './types';
export { deepEqual } from './validate';
export { CowMap, FrozenMap } from './cowmap';
