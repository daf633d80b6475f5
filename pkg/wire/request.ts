import type protobuf from 'protobufjs';
import { structToPlain } from './struct';

export class WireError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'WireError';
  }
}

export interface NodeInfo {
  id: string;
  cluster: string;
  metadata: Record<string, unknown>;
}

/** A validated DeltaDiscoveryRequest in plain form. */
export interface DeltaRequest {
  node?: NodeInfo;
  typeUrl: string;
  subscribe: string[];
  unsubscribe: string[];
  initialResourceVersions: Map<string, string>;
  responseNonce: string;
  /** Present iff this is a NACK; ztunnel leaves code at 0, so presence is the signal. */
  errorDetail?: { code: number; message: string };
}

interface RawRequest {
  node?: { id?: string; cluster?: string; metadata?: unknown };
  typeUrl?: string;
  resourceNamesSubscribe?: string[];
  resourceNamesUnsubscribe?: string[];
  initialResourceVersions?: Record<string, string>;
  responseNonce?: string;
  errorDetail?: { code?: number; message?: string };
}

/** Decodes and validates one request. Throws WireError on malformed bytes. */
export function decodeDeltaRequest(type: protobuf.Type, bytes: Uint8Array): DeltaRequest {
  let raw: RawRequest;
  try {
    raw = type.decode(bytes) as unknown as RawRequest;
  } catch (e) {
    throw new WireError('xds.request_malformed', `cannot decode DeltaDiscoveryRequest: ${(e as Error).message}`);
  }
  const req: DeltaRequest = {
    typeUrl: raw.typeUrl ?? '',
    subscribe: raw.resourceNamesSubscribe ?? [],
    unsubscribe: raw.resourceNamesUnsubscribe ?? [],
    initialResourceVersions: new Map(Object.entries(raw.initialResourceVersions ?? {})),
    responseNonce: raw.responseNonce ?? '',
  };
  if (raw.node) {
    req.node = { id: raw.node.id ?? '', cluster: raw.node.cluster ?? '', metadata: structToPlain(raw.node.metadata) };
  }
  // protobufjs leaves absent message fields undefined/null, so presence is exact.
  if (raw.errorDetail) req.errorDetail = { code: raw.errorDetail.code ?? 0, message: raw.errorDetail.message ?? '' };
  return req;
}
