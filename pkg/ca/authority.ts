import * as net from 'node:net';
import * as os from 'node:os';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { DaemonError, GrpcCode } from '../errors';
import { systemClock } from '../lifecycle';
import type { Clock } from '../lifecycle';
import type { Logger } from '../log';
import {
  authorityKeyIdExtension,
  basicConstraintsExtension,
  certificateToPem,
  createSigner,
  extKeyUsageExtension,
  generateKeyPair,
  KeyUsageBit,
  keyUsageExtension,
  LeafTemplate,
  OID,
  checkCsrProof,
  parseSpiffeId,
  privateKeyToPem,
  randomSerial,
  readCsr,
  subjectAltNameExtension,
} from '../x509';
import type { CertificateInfo, LeafFields, Signer } from '../x509';
import { loadOrCreateSelfSigned, loadPluginCa } from './key-material';
import type { KeyMaterial } from './key-material';
import { SigningPool } from './signing-pool';

export const DEFAULT_WORKLOAD_TTL_SECONDS = 24 * 3600;
export const DEFAULT_MAX_WORKLOAD_TTL_SECONDS = 90 * 24 * 3600;
export const SELF_SIGNED_ROOT_TTL_SECONDS = 10 * 365 * 24 * 3600;
/**
 * Workload certificates being signed at once (their crypto may wait for a signing thread; see Authority.sign).
 * ~4 KiB each (CSR, key, TBS); a request beyond it is refused with ca.busy (RESOURCE_EXHAUSTED), which
 * ztunnel retries with backoff.
 */
export const DEFAULT_MAX_PENDING_SIGNATURES = 1024;
/** istio backdates NotBefore to absorb clock skew between CA and workloads (generate_cert.go). */
const BACKDATE_MS = 2 * 60_000;

export interface AuthorityOptions {
  /** State directory; the self-signed root lives in `<stateDir>/ca/`. */
  stateDir: string;
  /** Plug-in CA directory in istio's cacerts layout; when set it is used instead of a self-signed root. */
  pluginDir?: string;
  trustDomain: string;
  selfSignedKeyAlgorithm?: 'rsa-2048' | 'ec-p256';
  defaultTtlSeconds?: number;
  maxTtlSeconds?: number;
  /** Default DEFAULT_MAX_PENDING_SIGNATURES. */
  maxPendingSignatures?: number;
  /**
   * Threads that check CSRs and sign while others are in progress (SigningPool); 0 = always on the event loop.
   * Default: the cores node may use (os.availableParallelism()), at most 4.
   */
  signingThreads?: number;
  clock?: Clock;
  logger: Logger;
}

export interface SignRequest {
  csrPem: string;
  /** The single URI SAN, `spiffe://<td>/ns/<ns>/sa/<sa>` — from authentication, never from the CSR. */
  identity: string;
  /** Requested lifetime; ≤ 0 means the default. */
  ttlSeconds: number;
}

export interface SignResult {
  /** [leaf, each intermediate, root bundle]; every element newline-terminated PEM. */
  certChain: string[];
  notAfter: number;
  serialHex: string;
  /** URI SANs the CSR asked for (never used for the certificate; see ParsedCsr.requestedUris). */
  csrUris: string[];
}

export interface ServingCertRequest {
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  /** SPIFFE URI; default `spiffe://<td>/ns/istio-system/sa/istiod`. */
  uri?: string;
  ttlSeconds?: number;
}

export interface ServingCert {
  /** Leaf followed by intermediates (what a TLS server sends). */
  certChainPem: string;
  /** PKCS#8 PEM. Never log it. */
  keyPem: string;
  rootBundlePem: string;
  notBefore: number;
  notAfter: number;
}

export interface CertSummary {
  subject: string;
  serialHex: string;
  notBefore: number;
  notAfter: number;
  fingerprint256: string;
}

export interface AuthorityInfo {
  mode: 'plugin' | 'self-signed';
  source: string;
  trustDomain: string;
  signingKey: string;
  signingCert: CertSummary;
  roots: CertSummary[];
  intermediates: CertSummary[];
  issuedTotal: number;
  servingIssuedTotal: number;
}

/** When the CA's signing chain stops being usable: the earliest notAfter of signing cert, intermediates and roots. */
export function chainNotAfter(i: {
  readonly signingCert: { readonly notAfter: number };
  readonly intermediates: readonly { readonly notAfter: number }[];
  readonly roots: readonly { readonly notAfter: number }[];
}): number {
  return Math.min(i.signingCert.notAfter, ...i.intermediates.map((c) => c.notAfter), ...i.roots.map((r) => r.notAfter));
}

function summary(c: CertificateInfo): CertSummary {
  return {
    subject: c.subject,
    serialHex: c.serialHex,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    fingerprint256: c.x509.fingerprint256,
  };
}

/**
 * The single owner of CA key material. Everything that depends on the key
 * (signer, issuer name, AKI, constant extensions, chain PEMs) is computed once
 * at load, so a signature costs one CSR verify plus one native sign.
 */
export class Authority {
  readonly trustDomain: string;
  private readonly material: KeyMaterial;
  private readonly signer: Signer;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly defaultTtl: number;
  readonly maxTtlSeconds: number;
  private readonly chainTail: string[];
  private readonly rootBundle: string;
  private readonly leaves: LeafTemplate;
  private readonly maxPending: number;
  private pending = 0;
  private readonly workers: SigningPool | undefined;
  private issued = 0;
  private servingIssued = 0;

  private constructor(opts: AuthorityOptions, material: KeyMaterial) {
    this.trustDomain = opts.trustDomain;
    this.material = material;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger.child({ component: 'ca' });
    this.defaultTtl = opts.defaultTtlSeconds ?? DEFAULT_WORKLOAD_TTL_SECONDS;
    this.maxTtlSeconds = opts.maxTtlSeconds ?? DEFAULT_MAX_WORKLOAD_TTL_SECONDS;
    this.maxPending = opts.maxPendingSignatures ?? DEFAULT_MAX_PENDING_SIGNATURES;
    this.signer = createSigner(material.signingKey);
    const threads = opts.signingThreads ?? Math.min(4, os.availableParallelism());
    this.workers =
      threads > 0 ? new SigningPool({ key: material.signingKey, threads, logger: this.logger }) : undefined;
    this.rootBundle = material.roots.map((r) => r.pem).join('');
    this.chainTail = [...material.intermediates.map((c) => c.pem), this.rootBundle];
    // Encoded once per CA key (material is immutable; a new CA key is a new Authority, so a new template).
    this.leaves = new LeafTemplate({
      issuer: material.signingCert.subjectDer,
      signer: this.signer,
      extensions: [
        keyUsageExtension([KeyUsageBit.digitalSignature, KeyUsageBit.keyEncipherment]),
        extKeyUsageExtension([OID.serverAuth, OID.clientAuth]),
        basicConstraintsExtension(false),
        authorityKeyIdExtension(material.signingCert.subjectKeyId),
      ],
    });
  }

  /** Loads the plug-in CA if configured, else loads or creates the self-signed root. */
  static open(opts: AuthorityOptions): Authority {
    const clock = opts.clock ?? systemClock;
    const material = opts.pluginDir
      ? loadPluginCa(opts.pluginDir)
      : loadOrCreateSelfSigned({
          stateDir: opts.stateDir,
          trustDomain: opts.trustDomain,
          keyAlgorithm: opts.selfSignedKeyAlgorithm ?? 'rsa-2048',
          ttlSeconds: SELF_SIGNED_ROOT_TTL_SECONDS,
          now: clock.now(),
          logger: opts.logger,
        });
    const a = new Authority(opts, material);
    a.logger.info(
      {
        mode: material.mode,
        source: material.source,
        signingKey: a.signer.description,
        roots: material.roots.length,
        intermediates: material.intermediates.length,
      },
      'certificate authority loaded',
    );
    return a;
  }

  /** Stops the signing threads; a sign() still waiting for one fails with ca.signer_failed. Idempotent. */
  async close(): Promise<void> {
    await this.workers?.close();
  }

  destroy(): void {
    this.workers?.destroy();
  }

  rootBundlePem(): string {
    return this.rootBundle;
  }

  /**
   * Effective TTL: ≤ 0 → default; above the maximum → ca.ttl_too_long (istio server.go refuses, it does not
   * clamp).
   */
  resolveTtl(ttlSeconds: number): number {
    const ttl = !Number.isFinite(ttlSeconds) || ttlSeconds <= 0 ? this.defaultTtl : Math.floor(ttlSeconds);
    if (ttl > this.maxTtlSeconds) {
      throw ttlTooLong(ttl, this.maxTtlSeconds);
    }
    return ttl;
  }

  /**
   * Signs a workload CSR for `identity`. Rejects with a DaemonError: InvalidArgument for bad CSRs, identities or
   * TTLs, ResourceExhausted (ca.busy) while maxPendingSignatures are in progress.
   *
   * A request that arrives with others (or while others are in progress) has its CSR check and signature done
   * by a signing thread (SigningPool), so the event loop serves the others meanwhile and a burst uses every
   * core; one that arrives alone runs them inline, because the hand-off costs CPU and latency.
   */
  async sign(req: SignRequest): Promise<SignResult> {
    const ttl = this.resolveTtl(req.ttlSeconds);
    const id = parseSpiffeId(req.identity);
    if (this.pending >= this.maxPending) {
      throw new DaemonError('ca.busy', GrpcCode.RESOURCE_EXHAUSTED, `${this.pending} certificates being signed`);
    }
    this.pending++;
    try {
      // Requests read from the network together have their handlers run in the same I/O phase: after one turn
      // of the event loop they have all counted themselves, and if any did, each hands its crypto to a signing thread.
      await nextTurn();
      const csr = readCsr(req.csrPem);
      const leaf = this.leafFields(csr.spki, { uris: [id.uri] }, ttl);
      let der: Buffer;
      if (this.pending > 1 && this.workers) {
        // The thread checks the proof first and signs only if it holds.
        const tbs = this.leaves.tbs(leaf.fields);
        der = this.leaves.certificate(tbs, await this.workers.sign({ proof: csr.proof, tbs }));
      } else {
        await checkCsrProof(csr.proof);
        der = this.leaves.build(leaf.fields);
      }
      this.issued++;
      return {
        certChain: [certificateToPem(der), ...this.chainTail],
        notAfter: leaf.notAfter,
        serialHex: leaf.fields.serial.toString('hex').toUpperCase(),
        csrUris: csr.requestedUris,
      };
    } finally {
      this.pending--;
    }
  }

  /** The fields of a leaf for `spki` issued now; `notAfter` as the certificate states it (whole seconds). */
  private leafFields(
    spki: Buffer,
    san: { uris?: readonly string[]; dnsNames?: readonly string[]; ipAddresses?: readonly string[] },
    ttlSeconds: number,
  ): { fields: LeafFields; notAfter: number } {
    const now = this.clock.now();
    // NotAfter never outlives the signing certificate (istio clamps the same way).
    const notAfter = Math.min(now + ttlSeconds * 1000, this.material.signingCert.notAfter);
    const fields = {
      serial: randomSerial(),
      notBefore: now - BACKDATE_MS,
      notAfter,
      spki,
      // Empty subject ⇒ the SAN extension must be critical (RFC 5280 §4.2.1.6).
      san: subjectAltNameExtension(san, true),
    };
    return { fields, notAfter: Math.floor(notAfter / 1000) * 1000 };
  }

  /** A fresh P-256 key and certificate for the daemon's own TLS listeners and peering client. */
  issueServingCert(req: ServingCertRequest = {}): ServingCert {
    const uri = req.uri ?? `spiffe://${this.trustDomain}/ns/istio-system/sa/istiod`;
    parseSpiffeId(uri);
    const dnsNames = [...new Set(['istiod.istio-system.svc', ...(req.dnsNames ?? [])])];
    const ipAddresses = [...new Set(req.ipAddresses ?? [])].filter((ip) => net.isIP(ip) !== 0);
    const ttl = Math.min(req.ttlSeconds ?? DEFAULT_WORKLOAD_TTL_SECONDS, this.maxTtlSeconds);
    const { privateKey, publicKey } = generateKeyPair('ec-p256');
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const leaf = this.leafFields(spki, { uris: [uri], dnsNames, ipAddresses }, ttl);
    const der = this.leaves.build(leaf.fields);
    this.servingIssued++;
    const certChainPem = [certificateToPem(der), ...this.material.intermediates.map((c) => c.pem)].join('');
    this.logger.info(
      { uri, dnsNames, ipAddresses, notAfter: new Date(leaf.notAfter).toISOString() },
      'issued serving certificate',
    );
    return {
      certChainPem,
      keyPem: privateKeyToPem(privateKey),
      rootBundlePem: this.rootBundle,
      notBefore: this.clock.now() - BACKDATE_MS,
      notAfter: leaf.notAfter,
    };
  }

  /** Public facts only: never key material. */
  info(): AuthorityInfo {
    return {
      mode: this.material.mode,
      source: this.material.source,
      trustDomain: this.trustDomain,
      signingKey: this.signer.description,
      signingCert: summary(this.material.signingCert),
      roots: this.material.roots.map(summary),
      intermediates: this.material.intermediates.map(summary),
      issuedTotal: this.issued,
      servingIssuedTotal: this.servingIssued,
    };
  }
}

/** The refusal of a certificate lifetime above the maximum (istio's server.go refuses too; it does not clamp). */
export function ttlTooLong(ttlSeconds: number, maxSeconds: number): DaemonError {
  return new DaemonError(
    'ca.ttl_too_long',
    GrpcCode.INVALID_ARGUMENT,
    `requested TTL ${ttlSeconds}s exceeds the maximum ${maxSeconds}s`,
  );
}
