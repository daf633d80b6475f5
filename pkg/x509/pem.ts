/** PEM framing (RFC 7468): strict enough to reject garbage, tolerant of CRLF and trailing text. */

// Markers are found in one linear pass and paired in order, so hostile input
// (thousands of unterminated BEGIN lines) costs O(n), not O(n²) backtracking.
const MARKER_RE = /-----(BEGIN|END) ([A-Z0-9 ]{1,64})-----/g;
const BODY_RE = /^[A-Za-z0-9+/=\r\n\t ]*$/;

export interface PemBlock {
  type: string;
  der: Buffer;
}

export function decodePemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  let open: { type: string; bodyStart: number } | undefined;
  for (const m of text.matchAll(MARKER_RE)) {
    if (m[1] === 'BEGIN') {
      open = { type: m[2]!, bodyStart: m.index + m[0].length };
    } else if (open && m[2] === open.type) {
      const body = text.slice(open.bodyStart, m.index);
      // Node's base64 decoder skips whitespace, so decoding the checked body
      // directly equals decoding it with whitespace stripped (one copy fewer).
      if (BODY_RE.test(body)) out.push({ type: open.type, der: Buffer.from(body, 'base64') });
      open = undefined;
    } else {
      open = undefined;
    }
  }
  return out;
}

/** PEM with 64-column lines and a trailing newline (ztunnel expects newline-terminated elements). */
export function encodePem(type: string, der: Buffer): string {
  const b64 = der.toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + '\n';
  return `-----BEGIN ${type}-----\n${body}-----END ${type}-----\n`;
}

/** Splits a bundle into newline-terminated CERTIFICATE PEMs, in order; other block types are dropped. */
export function splitPemCertificates(bundle: string): string[] {
  return decodePemBlocks(bundle)
    .filter((b) => b.type === 'CERTIFICATE')
    .map((b) => encodePem('CERTIFICATE', b.der));
}
