/**
 * Forward protobuf writing for the bytes prototype (translate-encoded.ts):
 * a message's length is computed before its fields are written, so every
 * length prefix is written in place. Kubernetes names and label values are
 * ASCII, so a string's length is its byte length. Varints are pkg/wire's
 * (pb-writer.ts), bound once below.
 */
import * as wire from '../../pkg/wire';

// Bound once: a call through a named import reads pkg/wire's re-export getter each time (compiled CommonJS), and a
// profile of the prototype showed those getters (as pkg/model's LABEL notes for its constants).
export const putVarint = wire.putVarint;
export const varintSize = wire.varintSize;

/** Copies src to b[at]: a loop for short pieces (TypedArray#set's call costs more than a few dozen bytes). */
export function copy(b: Buffer, at: number, src: Uint8Array): number {
  const n = src.length;
  if (n <= 24) for (let i = 0; i < n; i++) b[at + i] = src[i]!;
  else b.set(src, at);
  return at + n;
}

/** The bytes of a string field (one-byte tag) holding s: 0 for an empty or absent string (proto3 default). */
export const strField = (s: string | undefined): number => (s ? 1 + varintSize(s.length) + s.length : 0);

/** Writes a string field (one-byte tag: fields 1-15) unless s is empty or absent. */
export function putStr(b: Buffer, at: number, tag: number, s: string | undefined): number {
  if (!s) return at;
  b[at] = tag;
  at = putVarint(b, at + 1, s.length);
  for (let i = 0; i < s.length; i++) b[at + i] = s.charCodeAt(i);
  return at + s.length;
}

/** Writes s's characters (ASCII) at b[at]. */
export function putChars(b: Buffer, at: number, s: string): number {
  for (let i = 0; i < s.length; i++) b[at + i] = s.charCodeAt(i);
  return at + s.length;
}
