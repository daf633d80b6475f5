import * as crypto from 'node:crypto';
import { DaemonError, GrpcCode } from '../errors';
import { nullValue, oid, seq } from './der';
import { OID } from './oids';

export type KeyAlgorithm = 'rsa-2048' | 'rsa-3072' | 'rsa-4096' | 'ec-p256' | 'ec-p384';

export function generateKeyPair(alg: KeyAlgorithm): { privateKey: crypto.KeyObject; publicKey: crypto.KeyObject } {
  // Generated as DER and imported again, so no KeyObject we hand out shares its key's mutex with node's key
  // generation job: on node 20.20 a GC that collected that job while such a key was being read (export, or
  // asymmetricKeyDetails) deadlocked the process — seen twice in the bench's load generator and its own process
  // (gdb: ~KeyGenJob waiting on the mutex GetEcKeyDetail / ExportJWKEcKey held; docs/design/ca-floors.md section 6).
  const publicKeyEncoding = { type: 'spki', format: 'der' } as const;
  const privateKeyEncoding = { type: 'pkcs8', format: 'der' } as const;
  const der: Buffer = alg.startsWith('rsa-')
    ? crypto.generateKeyPairSync('rsa', { modulusLength: Number(alg.slice(4)), publicKeyEncoding, privateKeyEncoding })
        .privateKey
    : crypto.generateKeyPairSync('ec', {
        namedCurve: alg === 'ec-p384' ? 'P-384' : 'P-256',
        publicKeyEncoding,
        privateKeyEncoding,
      }).privateKey;
  const key = crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  return { privateKey: key, publicKey: crypto.createPublicKey(key) };
}

/** PKCS#8 PEM, the form ztunnel and rustls expect for private keys. */
export function privateKeyToPem(key: crypto.KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** Loads PKCS#1, PKCS#8 or SEC1 PEM. Throws x509.bad_private_key without echoing key bytes. */
export function loadPrivateKey(pem: string | Buffer): crypto.KeyObject {
  try {
    return crypto.createPrivateKey(pem);
  } catch {
    throw new DaemonError('x509.bad_private_key', GrpcCode.INTERNAL, 'private key could not be parsed');
  }
}

/**
 * The CA side of signing: the AlgorithmIdentifier written into the certificate
 * and a native sign function. The KeyObject is parsed once and reused, so a
 * signature costs only the native operation.
 */
export interface Signer {
  readonly algorithmIdentifier: Buffer;
  readonly description: string;
  sign(data: Uint8Array): Buffer;
}

function nativeSigner(algorithmIdentifier: Buffer, description: string, hash: string, key: crypto.KeyObject): Signer {
  return {
    algorithmIdentifier,
    description,
    sign: (d) => crypto.sign(hash, d, key),
  };
}

export function createSigner(key: crypto.KeyObject): Signer {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    // RFC 4055 §5: sha256WithRSAEncryption carries an explicit NULL parameter.
    const algorithmIdentifier = seq(oid(OID.sha256WithRsa), nullValue());
    return nativeSigner(algorithmIdentifier, `RSA-${bits}`, 'sha256', key);
  }
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    // RFC 5758 §3.2: ECDSA AlgorithmIdentifiers omit parameters entirely.
    if (curve === 'prime256v1') {
      return nativeSigner(seq(oid(OID.ecdsaWithSha256)), 'ECDSA-P256', 'sha256', key);
    }
    if (curve === 'secp384r1') {
      return nativeSigner(seq(oid(OID.ecdsaWithSha384)), 'ECDSA-P384', 'sha384', key);
    }
  }
  throw new DaemonError(
    'x509.unsupported_ca_key',
    GrpcCode.FAILED_PRECONDITION,
    `unsupported signing key type ${type ?? 'unknown'}`,
  );
}
