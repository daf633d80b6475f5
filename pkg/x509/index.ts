// The only module that builds or parses X.509 structures. DER is assembled in
// JS and signed natively with node:crypto (pure-JS RSA is ~60x slower).
export { checkCsrProof, parseCsr, readCsr, createCsr, MAX_CSR_BYTES } from './csr';
export type { CsrKey, CsrProof, CsrRequest, ParsedCsr, CsrKeyType, SigCheck } from './csr';
export {
  buildCertificate,
  buildName,
  certificateToPem,
  emptyName,
  NameAttr,
  parseCertificateDer,
  parseCertificatesPem,
  randomSerial,
} from './cert';
export type { CertificateSpec, CertificateInfo } from './cert';
export {
  authorityKeyIdExtension,
  basicConstraintsExtension,
  extKeyUsageExtension,
  extension,
  keyIdFromSpki,
  KeyUsageBit,
  keyUsageExtension,
  subjectAltNameExtension,
  subjectKeyIdExtension,
} from './extensions';
export type { SanSpec } from './extensions';
export { createSigner, generateKeyPair, loadPrivateKey, privateKeyToPem } from './keys';
export type { KeyAlgorithm, Signer } from './keys';
export { LeafTemplate } from './leaf-template';
export type { LeafFields, LeafTemplateSpec } from './leaf-template';
export { OID } from './oids';
export { decodePemBlocks, encodePem, splitPemCertificates } from './pem';
export type { PemBlock } from './pem';
export { parseSpiffeId, spiffeUri } from './spiffe';
export type { SpiffeId } from './spiffe';
