export { loadWire, findProtoDir, TYPE_ADDRESS, TYPE_AUTHORIZATION, TYPE_PREFIX } from './schema';
export type { Wire } from './schema';
export { encodeResourceFrame, encodeDeltaResponse, encodeDeltaResponseParts, encodeDeltaResponseBody, withNonce, nonceField, contentVersion, partBytes, joinParts, frameVersionRange, frameNameLength } from './delta-codec';
export type { DeltaResponseParts, FramePart } from './delta-codec';
export { decodeDeltaRequest, decodeDeltaRequestSlow, scanDeltaRequest, NameList, WireError } from './request';
export type { DeltaRequest, NodeInfo, ScannedRequest } from './request';
export { structToPlain } from './struct';
export { InitialVersions, SetDigest, fnv1a, fnv1aString } from './irv';
