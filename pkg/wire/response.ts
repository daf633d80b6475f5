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
