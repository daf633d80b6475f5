import { putVarint, varintSize } from './pb-writer';

/**
 * One stream's nonces, `<prefix><n>` (rule 16: unique per stream), and its response heads per type (forType). The
 * stream keeps nonce numbers, not strings (isNonce matches an ACK against a number).
 */
export class ResponseHeads {
  private readonly prefix: Buffer;
  private readonly prefixText: string;

  constructor(noncePrefix: string) {
    this.prefixText = noncePrefix;
    this.prefix = Buffer.from(noncePrefix, 'utf8');
  }

  /** The nonce a head's `encode(…, nonceNo, …)` writes, as a string. */
  nonce(nonceNo: number): string {
    return this.prefixText + String(nonceNo);
  }

  /**
   * Whether `text` is nonce(nonceNo), read in place: a stream keeps the number of the nonce it sent last and matches
   * an ACK's response_nonce against it, so no nonce string is made per response. False for nonceNo 0 (none sent).
   */
  isNonce(text: string, nonceNo: number): boolean {
    if (nonceNo === 0) return false;
    if (nonceNo >= 0x80000000) return text === this.nonce(nonceNo);
    const p = this.prefixText;
    if (text.length !== p.length + digits(nonceNo) || !text.startsWith(p)) return false;
    let m = nonceNo;
    for (let i = text.length - 1; i >= p.length; i--) {
      const q = (m / 10) | 0;
      if (text.charCodeAt(i) !== 0x30 + m - q * 10) return false;
      m = q;
    }
    return true;
  }

  /** The heads of this stream's responses of one type (the stream keeps one per type it serves). */
  forType(typeUrl: string): ResponseHead {
    return new ResponseHead(typeUrl, this.prefix);
  }
}

/**
 * The head of one stream's DeltaDiscoveryResponses of one type: system_version_info (1) = the cache seq in decimal,
 * type_url (4), nonce (5) = `<prefix><n>` and removed_resources (6), in that order: the bytes
 * encodeDeltaResponseParts writes for the same strings (response-head.test.ts). Everything between the version's
 * digits and the nonce's is a template made once per stream and type (and again when the nonce gains a digit), so
 * a head is one allocation, one copy and the two numbers' digits: with the strings it was about a fifth of serving
 * one change, with a copy each for the type URL field and the nonce prefix a twentieth (docs/design/serve-one.md).
 */
export class ResponseHead {
  /** type_url's field, nonce's tag and length, the nonce prefix: for nonces of `templateDigits` digits. */
  private template: Buffer = Buffer.alloc(0);
  private templateDigits = 0;
  private readonly typeField: Buffer;

  constructor(
    typeUrl: string,
    private readonly prefix: Buffer,
  ) {
    const len = Buffer.byteLength(typeUrl);
    const f = Buffer.allocUnsafe(1 + varintSize(len) + len);
    f[0] = 0x22;
    f.write(typeUrl, putVarint(f, 1, len), 'utf8');
    this.typeField = f;
  }

  /**
   * The head fields, after `lead` bytes of room (for a transport's frame prefix) and followed by room for `tail`
   * more bytes (both left unwritten).
   */
  encode(version: number, nonceNo: number, removed: readonly string[], tail = 0, lead = 0): Buffer {
    const vd = digits(version);
    const nd = digits(nonceNo);
    if (nd !== this.templateDigits) this.remake(nd);
    const tpl = this.template;
    let n = 2 + vd + tpl.length + nd;
    for (let i = 0; i < removed.length; i++) {
      const r = Buffer.byteLength(removed[i]!);
      n += 1 + varintSize(r) + r;
    }
    const b = Buffer.allocUnsafe(lead + n + tail);
    b[lead] = 0x0a;
    b[lead + 1] = vd;
    let at = putDigits(b, lead + 2, version, vd);
    b.set(tpl, at); // TypedArray set: Buffer.copy goes through two JS layers first
    at = putDigits(b, at + tpl.length, nonceNo, nd);
    for (let i = 0; i < removed.length; i++) {
      const r = removed[i]!;
      b[at++] = 0x32;
      const len = Buffer.byteLength(r);
      at = putVarint(b, at, len);
      at += b.write(r, at, len, 'utf8');
    }
    return b;
  }

  /** The template for nonces of `nd` digits: the nonce's length (prefix + digits) is in it. */
  private remake(nd: number): void {
    const type = this.typeField;
    const nonceLen = this.prefix.length + nd;
    const t = Buffer.allocUnsafe(type.length + 1 + varintSize(nonceLen) + this.prefix.length);
    type.copy(t, 0);
    t[type.length] = 0x2a;
    this.prefix.copy(t, putVarint(t, type.length + 1, nonceLen));
    this.template = t;
    this.templateDigits = nd;
  }
}

/** Decimal digits of a non-negative safe integer (String(n).length). */
function digits(n: number): number {
  if (n < 0x80000000) {
    let d = 1;
    for (let m = n | 0; m >= 10; m = (m / 10) | 0) d++;
    return d;
  }
  return String(n).length;
}

/** Writes n's `d` decimal digits at `at`; returns the end. Integer steps below 2^31 (the usual seq and nonce). */
function putDigits(b: Buffer, at: number, n: number, d: number): number {
  const end = at + d;
  if (n >= 0x80000000) {
    b.write(String(n), at, d, 'latin1');
    return end;
  }
  let m = n | 0;
  for (let i = end - 1; i >= at; i--) {
    const q = (m / 10) | 0;
    b[i] = 0x30 + m - q * 10;
    m = q;
  }
  return end;
}
