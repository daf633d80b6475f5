import type { Wire } from './schema';
import { decodedAs } from './decoded';

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
 * array (defaults sit on the message prototype), so the decoded message has this shape (decodedAs).
 * Throws on bytes that are not a DeltaDiscoveryResponse.
 */
export function decodeDeltaResponse(wire: Pick<Wire, 'DeltaDiscoveryResponse'>, b: Uint8Array): DeltaResponse {
  return decodedAs<DeltaResponse>(wire.DeltaDiscoveryResponse.decode(b));
}

/** Encodes a DeltaDiscoveryRequest from its plain (camelCase) form, as a client sends it. */
export function encodeDeltaRequest(wire: Wire, req: Record<string, unknown>): Uint8Array {
  const w = wire.DeltaDiscoveryRequest;
  return w.encode(w.fromObject(req)).finish();
}
