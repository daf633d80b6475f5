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

/**
 * A client's reading of one response frame: the response, or why the bytes are not one. A client that cannot read
 * a response cannot tell what it was sent, so the peer and gateway clients end the call on `ok: false`.
 */
export function readDeltaResponse(
  wire: Pick<Wire, 'DeltaDiscoveryResponse'>,
  b: Uint8Array,
): { ok: true; resp: DeltaResponse } | { ok: false; reason: string } {
  try {
    return { ok: true, resp: decodeDeltaResponse(wire, b) };
  } catch (e) {
    return { ok: false, reason: `undecodable response: ${(e as Error).message}` };
  }
}

/** Encodes a DeltaDiscoveryRequest from its plain (camelCase) form, as a client sends it. */
export function encodeDeltaRequest(wire: Wire, req: Record<string, unknown>): Uint8Array {
  const w = wire.DeltaDiscoveryRequest;
  return w.encode(w.fromObject(req)).finish();
}
