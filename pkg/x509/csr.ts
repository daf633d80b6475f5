import * as crypto from 'node:crypto';
import { DaemonError, GrpcCode, type CsrRefusalCode } from '../errors';
import {
  bitString,
  children,
  ctx,
  DerError,
  decodeOid,
  expectTag,
  nullValue,
  oid,
  readTlv,
  seq,
  set,
  slice,
  smallInt,
  Tag,
  value,
} from './der';
import type { Tlv } from './der';
import { subjectAltNameExtension } from './extensions';
import type { Signer } from './keys';
import { HASH_OIDS, OID } from './oids';
import { decodePemBlocks, encodePem } from './pem';

/** Inputs beyond this are refused before any parsing (a P-256 CSR is ~400 bytes, RSA-4096 ~1.7 KiB). */
export const MAX_CSR_BYTES = 64 * 1024;

export type CsrKeyType = 'ec-p256' | 'ec-p384' | 'rsa' | 'rsa-pss';

export interface ParsedCsr {
  /** DER SubjectPublicKeyInfo, copied into the certificate unchanged. */
  spki: Buffer;
  publicKey: crypto.KeyObject;
  keyType: CsrKeyType;
  keyBits: number;
  /**
   * URI SANs the CSR's extensionRequest asks for (ztunnel puts the identity it
   * wants there). Informational only: the certificate's identity comes from
   * authentication. Empty when absent or unreadable.
   */
  requestedUris: string[];
}

function invalid(code: CsrRefusalCode, message: string): DaemonError {
  return new DaemonError(`x509.${code}`, GrpcCode.INVALID_ARGUMENT, message);
}

export interface SigCheck {
  hash: string;
  keyTypes: readonly string[];
  pss?: { saltLength: number };
}

/** RFC 4055 §3.1 RSASSA-PSS-params; only SHA-2 with MGF1 over the same hash. */
function pssParams(buf: Buffer, params: ReturnType<typeof readTlv> | undefined): SigCheck {
  let hash = 'sha1';
  let mgfHash = 'sha1';
  let saltLength = 20;
  if (params) {
    for (const c of children(buf, expectTag(params, Tag.SEQUENCE, 'PSS params'))) {
      const inner = children(buf, c)[0];
      if (c.tag === 0xa0)
        hash = HASH_OIDS[decodeOid(buf, children(buf, expectTag(inner, Tag.SEQUENCE, 'hash'))[0]!)] ?? 'unknown';
      else if (c.tag === 0xa1) {
        const mgf = children(buf, expectTag(inner, Tag.SEQUENCE, 'mgf'));
        if (decodeOid(buf, mgf[0]!) !== OID.mgf1) mgfHash = 'unknown';
        else
          mgfHash =
            HASH_OIDS[decodeOid(buf, children(buf, expectTag(mgf[1], Tag.SEQUENCE, 'mgf hash'))[0]!)] ?? 'unknown';
      } else if (c.tag === 0xa2)
        saltLength = value(buf, expectTag(inner, Tag.INTEGER, 'salt')).readUIntBE(
          0,
          Math.min(4, inner!.end - inner!.valueStart),
        );
    }
  }
  if (hash === 'sha1' || hash === 'unknown' || mgfHash !== hash)
    throw invalid('csr_unsupported_algorithm', 'unsupported RSA-PSS parameters');
  return { hash, keyTypes: ['rsa', 'rsa-pss'], pss: { saltLength } };
}

/** Whether the TLV `t` of `buf` is exactly the DER `encoded` (compared in place, nothing decoded or copied). */
function isEncoded(buf: Buffer, t: Tlv, encoded: Buffer): boolean {
  return t.end - t.start === encoded.length && buf.compare(encoded, 0, encoded.length, t.start, t.end) === 0;
}

/** The AlgorithmIdentifiers ztunnel and openssl write, matched byte for byte before any OID is decoded. */
const COMMON_ALGORITHMS: ReadonlyArray<readonly [Buffer, SigCheck]> = [
  [seq(oid(OID.ecdsaWithSha256)), Object.freeze({ hash: 'sha256', keyTypes: Object.freeze(['ec']) })],
  [seq(oid(OID.sha256WithRsa), nullValue()), Object.freeze({ hash: 'sha256', keyTypes: Object.freeze(['rsa']) })],
];

function signatureCheck(buf: Buffer, algId: Tlv): SigCheck {
  for (const [der, check] of COMMON_ALGORITHMS) if (isEncoded(buf, algId, der)) return check;
  const parts = children(buf, expectTag(algId, Tag.SEQUENCE, 'AlgorithmIdentifier'));
  const alg = decodeOid(buf, parts[0]!);
  switch (alg) {
    case OID.ecdsaWithSha256:
      return { hash: 'sha256', keyTypes: ['ec'] };
    case OID.ecdsaWithSha384:
      return { hash: 'sha384', keyTypes: ['ec'] };
    case OID.ecdsaWithSha512:
      return { hash: 'sha512', keyTypes: ['ec'] };
    case OID.sha256WithRsa:
      return { hash: 'sha256', keyTypes: ['rsa'] };
    case OID.sha384WithRsa:
      return { hash: 'sha384', keyTypes: ['rsa'] };
    case OID.sha512WithRsa:
      return { hash: 'sha512', keyTypes: ['rsa'] };
    case OID.rsassaPss:
      return pssParams(buf, parts[1]);
    default:
      throw invalid('csr_unsupported_algorithm', `unsupported CSR signature algorithm ${alg}`);
  }
}

interface EcCurve {
  crv: string;
  keyType: CsrKeyType;
  bits: number;
  coord: number;
}
const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const OID_P256 = '1.2.840.10045.3.1.7';
const EC_CURVES: Record<string, EcCurve> = {
  [OID_P256]: { crv: 'P-256', keyType: 'ec-p256', bits: 256, coord: 32 },
  '1.3.132.0.34': { crv: 'P-384', keyType: 'ec-p384', bits: 384, coord: 48 },
};

/**
 * Every uncompressed P-256 SubjectPublicKeyInfo starts with these 27 bytes (SEQUENCE, AlgorithmIdentifier
 * {id-ecPublicKey, prime256v1}, BIT STRING header, no unused bits, 0x04) and has 64 more: X ‖ Y.
 */
const P256_SPKI_PREFIX = Buffer.concat([
  Buffer.from([Tag.SEQUENCE, 0x59, Tag.SEQUENCE, 0x13]),
  oid(OID_EC_PUBLIC_KEY),
  oid(OID_P256),
  Buffer.from([Tag.BIT_STRING, 0x42, 0x00, 0x04]),
]);

type ImportedKey = { key: crypto.KeyObject; keyType: CsrKeyType; keyBits: number };

/**
 * Uncompressed P-256/P-384 keys (what ztunnel and openssl send) imported from
 * the raw point through WebCrypto. OpenSSL 3's DER decoder costs more than the
 * signature check itself (~2.3x a P-256 verify here); the JWK import runs
 * EC_KEY_check_key, whose order check is one more scalar multiplication
 * (docs/design/ca-floors.md sections 3 and 8). The raw import still refuses a
 * point that is not on the curve or is the point at infinity (x509.test.ts),
 * which for these cofactor-1 curves is the whole public-key validation (SEC 1
 * v2 section 3.2.2.1). Anything else → undefined.
 */
async function ecKeyFromSpki(spki: Buffer): Promise<ImportedKey | undefined> {
  if (
    spki.length === P256_SPKI_PREFIX.length + 64 &&
    spki.compare(P256_SPKI_PREFIX, 0, P256_SPKI_PREFIX.length, 0, P256_SPKI_PREFIX.length) === 0
  ) {
    return ecKeyFromPoint(spki.subarray(P256_SPKI_PREFIX.length - 1), EC_CURVES[OID_P256]!);
  }
  const [algT, bitsT] = children(spki, readTlv(spki, 0));
  const alg = children(spki, expectTag(algT, Tag.SEQUENCE, 'AlgorithmIdentifier'));
  if (decodeOid(spki, alg[0]!) !== OID_EC_PUBLIC_KEY || alg[1]?.tag !== Tag.OID) return undefined;
  const curve = EC_CURVES[decodeOid(spki, alg[1])];
  const bits = value(spki, expectTag(bitsT, Tag.BIT_STRING, 'subjectPublicKey'));
  if (!curve || bits.length !== 2 + 2 * curve.coord || bits[0] !== 0 || bits[1] !== 0x04) return undefined;
  return ecKeyFromPoint(bits.subarray(1), curve);
}

/** 0x04 ‖ X ‖ Y (already checked) → a public KeyObject; rejects when the point is not on the curve. */
async function ecKeyFromPoint(point: Buffer, curve: EcCurve): Promise<ImportedKey> {
  const algorithm = { name: 'ECDSA', namedCurve: curve.crv };
  const cryptoKey = await crypto.subtle.importKey('raw', point, algorithm, false, ['verify']);
  return { key: crypto.KeyObject.from(cryptoKey), keyType: curve.keyType, keyBits: curve.bits };
}

function classifyKey(key: crypto.KeyObject): { keyType: CsrKeyType; keyBits: number } {
  const t = key.asymmetricKeyType;
  const d = key.asymmetricKeyDetails ?? {};
  if (t === 'ec') {
    if (d.namedCurve === 'prime256v1') return { keyType: 'ec-p256', keyBits: 256 };
    if (d.namedCurve === 'secp384r1') return { keyType: 'ec-p384', keyBits: 384 };
  }
  if ((t === 'rsa' || t === 'rsa-pss') && d.modulusLength && d.modulusLength >= 2048 && d.modulusLength <= 4096) {
    return { keyType: t, keyBits: d.modulusLength };
  }
  throw invalid(
    'csr_unsupported_key',
    `unsupported CSR key ${t ?? 'unknown'} ${d.namedCurve ?? d.modulusLength ?? ''}`,
  );
}

/** What the checks and the certificate need from a request, found without any crypto. */
interface CsrParts {
  buf: Buffer;
  cri: Tlv;
  spki: Buffer;
  check: SigCheck;
  sig: Buffer;
  attrs: Tlv | undefined;
}

function decodeCsr(pem: string): CsrParts {
  if (typeof pem !== 'string' || pem.length === 0) throw invalid('csr_not_pem', 'CSR is empty');
  if (pem.length > MAX_CSR_BYTES) throw invalid('csr_too_large', `CSR exceeds ${MAX_CSR_BYTES} bytes`);
  const blocks = decodePemBlocks(pem);
  if (blocks.length === 0) throw invalid('csr_not_pem', 'CSR is not PEM');
  const block = blocks[0]!;
  if (blocks.length > 1 || (block.type !== 'CERTIFICATE REQUEST' && block.type !== 'NEW CERTIFICATE REQUEST')) {
    throw invalid(
      'csr_wrong_pem_type',
      `expected one CERTIFICATE REQUEST block, got ${blocks.map((b) => b.type).join(',')}`,
    );
  }
  const buf = block.der;
  try {
    const outer = expectTag(readTlv(buf, 0), Tag.SEQUENCE, 'CertificationRequest');
    if (outer.end !== buf.length) throw new DerError('trailing bytes');
    const [criT, algT, sigT] = children(buf, outer);
    const cri = expectTag(criT, Tag.SEQUENCE, 'CertificationRequestInfo');
    const criParts = children(buf, cri);
    const version = value(buf, expectTag(criParts[0], Tag.INTEGER, 'version'));
    if (version.length !== 1 || version[0] !== 0) throw new DerError('unsupported CSR version');
    expectTag(criParts[1], Tag.SEQUENCE, 'subject');
    const spki = expectTag(criParts[2], Tag.SEQUENCE, 'SubjectPublicKeyInfo');
    const check = signatureCheck(buf, algT!);
    const sigBits = value(buf, expectTag(sigT, Tag.BIT_STRING, 'signature'));
    if (sigBits.length < 2 || sigBits[0] !== 0) throw new DerError('bad signature bit string');
    return { buf, cri, spki: Buffer.from(slice(buf, spki)), check, sig: sigBits.subarray(1), attrs: criParts[3] };
  } catch (e) {
    if (e instanceof DaemonError) throw e;
    throw invalid('csr_malformed', `CSR DER is malformed: ${(e as Error).message}`);
  }
}

/**
 * What proves a request's key is held: the signed CertificationRequestInfo, its signature and how to check it.
 * Plain data (Uint8Arrays and strings), so it crosses to a worker thread as it is (structured clone turns a
 * Buffer into a Uint8Array).
 */
export interface CsrProof {
  /** DER SubjectPublicKeyInfo. */
  spki: Uint8Array;
  /** The CertificationRequestInfo, as signed. */
  signed: Uint8Array;
  signature: Uint8Array;
  check: SigCheck;
}

/** A request decoded without any crypto: what the certificate needs, and the proof still to be checked. */
export interface CsrRequest {
  /** DER SubjectPublicKeyInfo, copied into the certificate unchanged. */
  spki: Buffer;
  /** URI SANs the extensionRequest asks for (ParsedCsr.requestedUris). */
  requestedUris: string[];
  proof: CsrProof;
}

/** The request's key, imported and checked against the proof (checkCsrProof). */
export interface CsrKey {
  publicKey: crypto.KeyObject;
  keyType: CsrKeyType;
  keyBits: number;
}

/** Decodes a PEM PKCS#10 request (RFC 2986) without checking its signature; refusals as parseCsr's. */
export function readCsr(pem: string): CsrRequest {
  const { buf, cri, spki, check, sig, attrs } = decodeCsr(pem);
  return {
    spki,
    requestedUris: attrs ? requestedUris(buf, attrs) : [],
    proof: { spki, signed: slice(buf, cri), signature: sig, check },
  };
}

/** Imports the request's key and verifies its self-signature on this thread; refusals as parseCsr's. */
export async function checkCsrProof(proof: CsrProof): Promise<CsrKey> {
  // The DER walk below reads Buffers; after a structured clone this is a Uint8Array (node:crypto takes either).
  const spki = Buffer.isBuffer(proof.spki)
    ? proof.spki
    : Buffer.from(proof.spki.buffer, proof.spki.byteOffset, proof.spki.length);
  const { check } = proof;
  let publicKey: crypto.KeyObject;
  let fast: ImportedKey | undefined;
  try {
    fast = await ecKeyFromSpki(spki);
    publicKey = fast?.key ?? crypto.createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch {
    throw invalid('csr_unsupported_key', 'CSR public key could not be parsed');
  }
  const { keyType, keyBits } = fast ?? classifyKey(publicKey);
  if (!check.keyTypes.includes(publicKey.asymmetricKeyType ?? '')) {
    throw invalid('csr_bad_signature', 'CSR signature algorithm does not match its key');
  }
  const key = check.pss
    ? { key: publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: check.pss.saltLength }
    : publicKey;
  let ok = false;
  try {
    ok = crypto.verify(check.hash, proof.signed, key, proof.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw invalid('csr_bad_signature', 'CSR signature does not verify');
  return { publicKey, keyType, keyBits };
}

/**
 * Parses a PEM PKCS#10 request (RFC 2986) and verifies its self-signature
 * natively, on this thread. The subject and requested extensions are
 * deliberately ignored: the identity comes from authentication (istio
 * security/pkg/server/ca/server.go).
 */
export async function parseCsr(pem: string): Promise<ParsedCsr> {
  const req = readCsr(pem);
  const key = await checkCsrProof(req.proof);
  return { spki: req.spki, ...key, requestedUris: req.requestedUris };
}

const OID_EXTENSION_REQUEST = oid(OID.extensionRequest);
const OID_SUBJECT_ALT_NAME = oid(OID.subjectAltName);

/** `t` is the OID `dotted` (`encoded` is its DER): a byte comparison first, the decoder (and its checks) otherwise. */
function isOid(buf: Buffer, t: Tlv, encoded: Buffer, dotted: string): boolean {
  return isEncoded(buf, t, encoded) || decodeOid(buf, t) === dotted;
}

/** GeneralName uniformResourceIdentifier: [6] IMPLICIT IA5String (RFC 5280 §4.2.1.6). */
const GENERAL_NAME_URI = 0x86;

/**
 * URI SANs inside the [0] attributes of a CertificationRequestInfo (RFC 2986
 * §4.1): the extensionRequest attribute (RFC 2985 §5.4.2) holds Extensions,
 * the subjectAltName one an OCTET STRING wrapping GeneralNames. Anything
 * malformed here yields [] (the signature already covered these bytes).
 */
function requestedUris(buf: Buffer, attrs: ReturnType<typeof readTlv>): string[] {
  const out: string[] = [];
  try {
    if (attrs.tag !== 0xa0) return out;
    for (const attr of children(buf, attrs)) {
      const [type, values] = children(buf, expectTag(attr, Tag.SEQUENCE, 'Attribute'));
      if (!isOid(buf, type!, OID_EXTENSION_REQUEST, OID.extensionRequest)) continue;
      for (const exts of children(buf, expectTag(values, Tag.SET, 'values'))) {
        for (const ext of children(buf, expectTag(exts, Tag.SEQUENCE, 'Extensions'))) {
          const parts = children(buf, expectTag(ext, Tag.SEQUENCE, 'Extension'));
          if (!isOid(buf, parts[0]!, OID_SUBJECT_ALT_NAME, OID.subjectAltName)) continue;
          const octetString = expectTag(parts[parts.length - 1], Tag.OCTET_STRING, 'extnValue');
          const names = readTlv(buf, octetString.valueStart, octetString.end);
          for (const n of children(buf, expectTag(names, Tag.SEQUENCE, 'GeneralNames'))) {
            if (n.tag === GENERAL_NAME_URI) out.push(value(buf, n).toString('latin1'));
          }
        }
      }
    }
  } catch {
    return [];
  }
  return out;
}

/**
 * Builds a ztunnel-shaped CSR (src/tls/csr.rs): empty subject, one extension
 * request holding a critical URI SAN. Used by benchmarks and by callers of our
 * own (e.g. renewal clients); tests use openssl as the independent oracle.
 */
export function createCsr(opts: {
  publicKey: crypto.KeyObject;
  signer: Signer;
  uris?: string[];
  dnsNames?: string[];
}): string {
  const spki = opts.publicKey.export({ type: 'spki', format: 'der' });
  const san = subjectAltNameExtension({ uris: opts.uris ?? [], dnsNames: opts.dnsNames ?? [] }, true);
  const attrs = ctx(0, true, seq(oid(OID.extensionRequest), set(seq(san))));
  const cri = seq(smallInt(0), seq(), spki, attrs);
  return encodePem('CERTIFICATE REQUEST', seq(cri, opts.signer.algorithmIdentifier, bitString(opts.signer.sign(cri))));
}
