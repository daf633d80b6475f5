export { loadWire, findProtoDir, TYPE_ADDRESS, TYPE_AUTHORIZATION, TYPE_PREFIX } from './schema';
export type { Wire } from './schema';
export {
  encodeResourceFrame,
  encodeContentFrame,
  encodeDeltaResponse,
  encodeDeltaResponseParts,
  encodeDeltaResponseBody,
  withNonce,
  nonceField,
  contentVersion,
  partBytes,
  joinParts,
  frameVersionRange,
  frameNameLength,
  frameValueRange,
} from './delta-codec';
export type { DeltaResponseParts, FramePart } from './delta-codec';
export { decodeDeltaRequest, decodeDeltaRequestSlow, scanDeltaRequest, NameList, WireError } from './request';
export type { DeltaRequest, NodeInfo, ScannedRequest } from './request';
export { ResponseHead, ResponseHeads } from './response-head';
export { structToPlain } from './struct';
export { decodedAs } from './decoded';
export { InitialVersions } from './initial-versions';
export { SetDigest } from './set-digest';
export { nameHash, nameHashString } from './name-hash';
export { decodeDeltaResponse, encodeDeltaRequest, readDeltaResponse } from './response';
export type { DeltaResponse } from './response';
export {
  ResourceFrameEncoder,
  codecForTypeUrl,
  encodeMessage,
  putContentVersion,
  VERSION_LEN,
} from './resource-encoder';
export type { ScratchFrame } from './resource-encoder';
export { CODECS } from './generated';
export { NameMarks, putVarint, putVarintBack, varintSize } from './pb-writer';
export { forEachLenField } from './pb-reader';
export type { MessageCodec } from './generated';
