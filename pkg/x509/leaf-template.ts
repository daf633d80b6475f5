import { headerLength, Tag, time, writeHeader } from './der';
import { keyIdFromSpki, subjectKeyIdExtension } from './extensions';
import type { Signer } from './keys';

/** version [0] EXPLICIT INTEGER 2 (v3), RFC 5280 §4.1. */
const VERSION_V3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]);
/** The empty subject Name (SEQUENCE {}) of a workload leaf. */
const EMPTY_NAME = Buffer.from([Tag.SEQUENCE, 0x00]);

export interface LeafTemplateSpec {
  /** DER Name of the issuer (the signing certificate's subject, byte for byte). */
  issuer: Buffer;
  signer: Signer;
  /** Pre-encoded Extension DERs every leaf carries, written between the SAN and the SubjectKeyIdentifier. */
  extensions: readonly Buffer[];
}

export interface LeafFields {
  /** Big-endian serial magnitude (randomSerial()). */
  serial: Buffer;
  notBefore: number;
  notAfter: number;
  /** DER SubjectPublicKeyInfo of the certified key. */
  spki: Buffer;
  /** The subjectAltName Extension DER (subjectAltNameExtension). */
  san: Buffer;
}

/**
 * The leaf certificates one CA key issues, with everything that depends only on
 * that key encoded once: version, signature AlgorithmIdentifier, issuer Name and
 * the constant extensions. A certificate is then the per-request fields spliced
 * into one TBSCertificate buffer, one native signature, and one outer buffer —
 * byte for byte what buildCertificate() writes for the extension list
 * [san, ...extensions, subjectKeyIdentifier(spki)] and an empty subject
 * (leaf-template.test.ts checks the equality). A template belongs to one signer:
 * a new CA key means a new template (pkg/ca builds one per Authority).
 */
export class LeafTemplate {
  private readonly algorithmIdentifier: Buffer;
  /** algorithm + issuer, adjacent in the TBSCertificate. */
  private readonly algAndIssuer: Buffer;
  private readonly constantExtensions: Buffer;
  private readonly signer: Signer;

  constructor(spec: LeafTemplateSpec) {
    this.signer = spec.signer;
    this.algorithmIdentifier = Buffer.from(spec.signer.algorithmIdentifier);
    this.algAndIssuer = Buffer.concat([spec.signer.algorithmIdentifier, spec.issuer]);
    this.constantExtensions = Buffer.concat(spec.extensions);
  }

  /** Encodes and signs one leaf. Returns the certificate's DER. */
  build(f: LeafFields): Buffer {
    const tbs = this.tbs(f);
    return this.certificate(tbs, this.signer.sign(tbs));
  }

  /**
   * The TBSCertificate build() signs, for a caller that has it signed elsewhere (pkg/ca's signing workers, with
   * the same CA key) and then calls certificate().
   */
  tbs(f: LeafFields): Buffer {
    const serial = serialContent(f.serial);
    const serialLen = headerLength(serial.length + serial.pad) + serial.length + serial.pad;
    const nb = time(f.notBefore);
    const na = time(f.notAfter);
    const validityInner = nb.length + na.length;
    const ski = subjectKeyIdExtension(keyIdFromSpki(f.spki));
    const extsInner = f.san.length + this.constantExtensions.length + ski.length;
    const extsSeq = headerLength(extsInner) + extsInner;
    const tbsInner =
      VERSION_V3.length +
      serialLen +
      this.algAndIssuer.length +
      headerLength(validityInner) +
      validityInner +
      EMPTY_NAME.length +
      f.spki.length +
      headerLength(extsSeq) +
      extsSeq;

    const tbs = Buffer.allocUnsafe(headerLength(tbsInner) + tbsInner);
    let p = writeHeader(tbs, 0, Tag.SEQUENCE, tbsInner);
    p += VERSION_V3.copy(tbs, p);
    p = writeHeader(tbs, p, Tag.INTEGER, serial.length + serial.pad);
    if (serial.pad) tbs[p++] = 0;
    p += f.serial.copy(tbs, p, serial.start);
    p += this.algAndIssuer.copy(tbs, p);
    p = writeHeader(tbs, p, Tag.SEQUENCE, validityInner);
    p += nb.copy(tbs, p);
    p += na.copy(tbs, p);
    p += EMPTY_NAME.copy(tbs, p);
    p += f.spki.copy(tbs, p);
    p = writeHeader(tbs, p, 0xa3, extsSeq);
    p = writeHeader(tbs, p, Tag.SEQUENCE, extsInner);
    p += f.san.copy(tbs, p);
    p += this.constantExtensions.copy(tbs, p);
    ski.copy(tbs, p);
    return tbs;
  }

  /**
   * The certificate's DER from tbs() and its signature by this template's CA key:
   * Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }.
   */
  certificate(tbs: Buffer, sig: Uint8Array): Buffer {
    // BIT STRING: one leading octet of unused bits (0), then the signature.
    const bitsInner = 1 + sig.length;
    const certInner = tbs.length + this.algorithmIdentifier.length + headerLength(bitsInner) + bitsInner;
    const cert = Buffer.allocUnsafe(headerLength(certInner) + certInner);
    let p = writeHeader(cert, 0, Tag.SEQUENCE, certInner);
    p += tbs.copy(cert, p);
    p += this.algorithmIdentifier.copy(cert, p);
    p = writeHeader(cert, p, Tag.BIT_STRING, bitsInner);
    cert[p++] = 0;
    cert.set(sig, p);
    return cert;
  }
}

/** A non-negative INTEGER as der.unsignedInt() encodes it: leading zeros dropped, 0x00 first if the top bit is set. */
function serialContent(m: Buffer): { start: number; length: number; pad: number } {
  let i = 0;
  while (i < m.length - 1 && m[i] === 0) i++;
  if (m.length === 0) throw new RangeError('empty serial');
  return { start: i, length: m.length - i, pad: m[i]! & 0x80 ? 1 : 0 };
}
