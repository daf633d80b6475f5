/** PEM framing (RFC 7468): strict enough to reject garbage, tolerant of CRLF and trailing text. */

const PEM_RE = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)\r?\n?-----END \1-----/g;

export interface PemBlock {
  type: string;
  der: Buffer;
}

export function decodePemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(PEM_RE)) {
    const b64 = m[2]!.replace(/[\r\n]/g, '');
    out.push({ type: m[1]!, der: Buffer.from(b64, 'base64') });
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
