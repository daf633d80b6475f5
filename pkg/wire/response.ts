import type { Wire } from './schema';

/** A DeltaDiscoveryResponse as a client reads it (the fields ztunnels, peers and the gateway use). */
export interface DeltaResponse {
  typeUrl: string;
  nonce: string;
  systemVersionInfo: string;
  removedResources: string[];
  resources: { name: string; version: string; resource?: { value: Uint8Array } }[];
}

/**
 * Decodes a response frame. protobufjs fills every scalar with its default and every repeated field with an
 * array (defaults sit on the message prototype), so the decoded message has this shape; the one cast is here.
 * Throws on bytes that are not a DeltaDiscoveryResponse.
 */
export function decodeDeltaResponse(wire: Wire, b: Uint8Array): DeltaResponse {
  return wire.DeltaDiscoveryResponse.decode(b) as unknown as DeltaResponse;
}

/** Encodes a DeltaDiscoveryRequest from its plain (camelCase) form, as a client sends it. */
export function encodeDeltaRequest(wire: Wire, req: Record<string, unknown>): Uint8Array {
  const w = wire.DeltaDiscoveryRequest;
  return w.encode(w.fromObject(req)).finish();
}
