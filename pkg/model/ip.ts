import { isIP } from 'node:net';

/**
 * Parses an IPv4/IPv6 literal into its 4- or 16-byte form (what ztunnel
 * requires: any other length is a NACK). Returns undefined when malformed.
 */
export function ipToBytes(ip: string): Buffer | undefined {
  const v4 = parseV4(ip);
  if (v4) return v4;
  const fam = isIP(ip);
  if (fam === 4) return Buffer.from(ip.split('.').map((o) => Number(o)));
  if (fam !== 6) return undefined;
  let s = ip;
  const zone = s.indexOf('%');
  if (zone >= 0) return undefined;
  // Embedded IPv4 tail (::ffff:1.2.3.4): convert to two hextets.
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const b = tail.split('.').map(Number);
    s = `${s.slice(0, lastColon + 1)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, rest] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const r = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const fill = rest !== undefined ? 8 - h.length - r.length : 0;
  const parts = [...h, ...Array<string>(fill).fill('0'), ...r];
  if (parts.length !== 8) return undefined;
  const out = Buffer.alloc(16);
  parts.forEach((p, i) => out.writeUInt16BE(parseInt(p, 16), i * 2));
  return out;
}

/**
 * A strict dotted quad (no leading zeros) as its 32-bit value, in one pass and with no allocation; -1 for anything
 * else. Hot path: every pod IP the registry normalises, and the bytes prototype (bench/lib/translate-encoded.ts).
 */
export function ipv4Value(ip: string): number {
  let v = 0;
  let val = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      v = v * 256 + val;
      dots++;
      val = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && val === 0) return -1; // leading zero
      val = val * 10 + (c - 48);
      if (++digits > 3 || val > 255) return -1;
    } else return -1;
  }
  return dots === 3 && digits > 0 ? v * 256 + val : -1;
}

function parseV4(ip: string): Buffer | undefined {
  const v = ipv4Value(ip);
  if (v < 0) return undefined;
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(v, 0);
  return out;
}

/** Canonical text form (so "10.0.0.01"-style variants cannot create two keys). */
export function canonicalIp(ip: string): string | undefined {
  const b = ipToBytes(ip);
  if (!b) return undefined;
  return bytesToIp(b);
}

/**
 * Text form of a 4- or 16-byte address (the `ip` of `network/ip` alias and
 * collision keys): IPv6 per RFC 5952 §4 (lower-case hex, no leading zeros, the
 * first longest run of two or more zero groups shortened to `::`), the same
 * text the WHATWG URL serializer writes, IPv4-mapped addresses included
 * (`::ffff:102:304`). Any other length (never valid on the wire) is shown as
 * hex so a log line or a collision key still names the bytes.
 */
export function bytesToIp(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) return Buffer.from(b).toString('hex');
  const h: string[] = [];
  for (let i = 0; i < 16; i += 2) h.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // RFC 5952: compress the longest run (>=2) of zero groups.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (h[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && h[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return h.join(':');
  return `${h.slice(0, best).join(':')}::${h.slice(best + bestLen).join(':')}`;
}

/** Parses "ip" or "ip/len"; single IPs get the full length (32/128). */
export function parseCidr(s: string): { bytes: Buffer; length: number } | undefined {
  const slash = s.indexOf('/');
  const ip = slash >= 0 ? s.slice(0, slash) : s;
  const bytes = ipToBytes(ip);
  if (!bytes) return undefined;
  const max = bytes.length * 8;
  if (slash < 0) return { bytes, length: max };
  const lenStr = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenStr)) return undefined;
  const length = Number(lenStr);
  if (length > max) return undefined;
  return { bytes, length };
}
