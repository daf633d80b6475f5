import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DaemonError, GrpcCode } from '../errors';
import type { Logger } from '../log';
import {
  basicConstraintsExtension,
  buildCertificate,
  buildName,
  certificateToPem,
  createSigner,
  generateKeyPair,
  keyIdFromSpki,
  KeyUsageBit,
  keyUsageExtension,
  loadPrivateKey,
  NameAttr,
  parseCertificatesPem,
  privateKeyToPem,
  subjectKeyIdExtension,
} from '../x509';
import type { CertificateInfo } from '../x509';

/** Everything the Authority signs with, already parsed (no PEM work per request). */
export interface KeyMaterial {
  mode: 'plugin' | 'self-signed';
  /** Where it was loaded from, for logs and info(). */
  source: string;
  signingCert: CertificateInfo;
  signingKey: crypto.KeyObject;
  /** Certificates between the signing cert and a root, signing cert first; excludes roots. */
  intermediates: CertificateInfo[];
  roots: CertificateInfo[];
}

function invalid(message: string): DaemonError {
  return new DaemonError('ca.plugin_invalid', GrpcCode.FAILED_PRECONDITION, message);
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw invalid(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function issuedBy(child: CertificateInfo, parent: CertificateInfo): boolean {
  return child.issuerDer.equals(parent.subjectDer) && child.x509.verify(parent.x509.publicKey);
}

/**
 * Loads istio's `cacerts` layout (security/pkg/pki/ca/ca.go NewPluggedCertIstioCAOptions):
 * ca-cert.pem (signing cert), ca-key.pem, root-cert.pem (bundle, may hold several roots),
 * cert-chain.pem (signing cert → root). The chain from the signing cert must reach one
 * of the roots; the key must match the signing cert.
 */
export function loadPluginCa(dir: string): KeyMaterial {
  const signingCert = parseCertificatesPem(readText(path.join(dir, 'ca-cert.pem')))[0]!;
  const signingKey = loadPrivateKey(readText(path.join(dir, 'ca-key.pem')));
  const roots = parseCertificatesPem(readText(path.join(dir, 'root-cert.pem')));
  const chainFile = path.join(dir, 'cert-chain.pem');
  const chain = fs.existsSync(chainFile) ? parseCertificatesPem(readText(chainFile)) : [];
  if (!signingCert.isCa) throw invalid('ca-cert.pem is not a CA certificate');
  if (!signingCert.x509.checkPrivateKey(signingKey)) throw invalid('ca-key.pem does not match ca-cert.pem');
  const isRoot = (c: CertificateInfo) => roots.some((r) => r.der.equals(c.der));
  const intermediates: CertificateInfo[] = [];
  if (!isRoot(signingCert)) intermediates.push(signingCert);
  for (const c of chain) {
    if (isRoot(c) || c.selfSigned || intermediates.some((i) => i.der.equals(c.der))) continue;
    intermediates.push(c);
  }
  // Walk signing cert → intermediates → a root; every link must verify.
  let cur = signingCert;
  for (const next of intermediates.slice(1)) {
    if (!issuedBy(cur, next)) throw invalid(`cert-chain.pem is out of order at ${cur.subject}`);
    cur = next;
  }
  if (!roots.some((r) => (cur.der.equals(r.der) ? true : issuedBy(cur, r)))) {
    throw invalid('the signing chain does not reach any certificate in root-cert.pem');
  }
  return { mode: 'plugin', source: dir, signingCert, signingKey, intermediates, roots };
}

export interface SelfSignedOptions {
  stateDir: string;
  trustDomain: string;
  keyAlgorithm: 'rsa-2048' | 'ec-p256';
  ttlSeconds: number;
  now: number;
  logger: Logger;
}

const ROOT_CERT = 'root-cert.pem';
const ROOT_KEY = 'root-key.pem';

/**
 * Creates the self-signed root once and reuses it on every restart. The files are
 * written into a private temp directory and published with one rename, so a crash
 * or a concurrent daemon never leaves a key without its certificate.
 */
export function loadOrCreateSelfSigned(opts: SelfSignedOptions): KeyMaterial {
  const dir = path.join(opts.stateDir, 'ca');
  if (!fs.existsSync(path.join(dir, ROOT_KEY))) createSelfSigned(opts, dir);
  const certFile = path.join(dir, ROOT_CERT);
  const root = parseCertificatesPem(readText(certFile))[0]!;
  const key = loadPrivateKey(readText(path.join(dir, ROOT_KEY)));
  if (!root.x509.checkPrivateKey(key)) throw invalid(`${dir}: root key does not match root certificate`);
  if (root.notAfter <= opts.now)
    opts.logger.error({ notAfter: new Date(root.notAfter).toISOString() }, 'self-signed root has expired');
  return { mode: 'self-signed', source: dir, signingCert: root, signingKey: key, intermediates: [], roots: [root] };
}

function createSelfSigned(opts: SelfSignedOptions, dir: string): void {
  fs.mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  const tmp = fs.mkdtempSync(path.join(opts.stateDir, '.ca-'));
  try {
    const { privateKey, publicKey } = generateKeyPair(opts.keyAlgorithm);
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    // istio's self-signed root: O=<trust domain> (security/pkg/pki/ca/selfsignedcarootcertrotator.go).
    const name = buildName([[NameAttr.O, opts.trustDomain]]);
    const der = buildCertificate({
      issuer: name,
      subject: name,
      notBefore: opts.now - 2 * 60_000,
      notAfter: opts.now + opts.ttlSeconds * 1000,
      spki,
      signer: createSigner(privateKey),
      extensions: [
        keyUsageExtension([KeyUsageBit.digitalSignature, KeyUsageBit.keyCertSign, KeyUsageBit.cRLSign]),
        basicConstraintsExtension(true),
        subjectKeyIdExtension(keyIdFromSpki(spki)),
      ],
    });
    fs.writeFileSync(path.join(tmp, ROOT_KEY), privateKeyToPem(privateKey), { mode: 0o600 });
    fs.writeFileSync(path.join(tmp, ROOT_CERT), certificateToPem(der), { mode: 0o644 });
    fs.chmodSync(tmp, 0o700);
    try {
      fs.renameSync(tmp, dir);
      opts.logger.info({ dir, keyAlgorithm: opts.keyAlgorithm }, 'created self-signed root CA');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Someone else published first (or an empty dir exists); theirs wins if complete.
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      if (!fs.existsSync(path.join(dir, ROOT_KEY))) throw invalid(`${dir} exists but holds no ${ROOT_KEY}`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
