/**
 * The local registry: single writer of the mesh's Kubernetes-shaped objects.
 * Sources (FileSource here, a Kubernetes watch elsewhere) hand it raw
 * objects; each is validated and normalised alone into a compact model
 * object, rejected objects keep their last good version, and listeners get
 * one ChangeSet per batch that changed something. snapshot() is immutable
 * and cheap (copy-on-write shards).
 */
export { LocalRegistry } from './local-registry';
export { FileSource } from './file-source';
export type { FileSourceOptions } from './file-source';
export { ParkedWork } from './ingest-gate';
export type { IngestGate } from './ingest-gate';
export { parseManifest, DEFAULT_PARSE_LIMITS } from './manifest';
export type { ParsedFile, ParseLimits } from './manifest';
export { ParserHost } from './parser-host';
export type { ParseOutcome, ParserHostOptions } from './parser-host';
export type { SourceHealth, SourceProblem, ProblemCode } from './source-health';
export { identitiesOnNode } from './identities';
export { normalise, identify } from './normalize';
export type { RawObject, NormaliseResult, Identity } from './normalize';
export { SNAPSHOT_FIELD, snapshotGet } from './types';
export type { RegistryEvent, Rejection, ChangeSet, RegistrySnapshot } from './types';
export { deepEqual } from './validate';
export { CowMap, FrozenMap, keyHash, shardOf } from './cow-map';
export { ShardTable, ShardTableWriter } from './shard-table';
