import * as fs from 'node:fs';
import * as tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { CA_SERVICE_PATH, caServiceClient, type CaRequest, type CaResponse } from '../caserver';
import { createCsr, createSigner, generateKeyPair, privateKeyToPem, spiffeUri } from '../x509';
import { Backoff, type Clock } from '../lifecycle';
import type { Logger } from '../log';
import { TLS13_CIPHERS } from '../transport';

/** The gateway's current certificate: leaf + intermediates, its key, and the mesh roots from the CA response. */
export interface GatewayIdentity {
  readonly certChainPem: string;
  readonly keyPem: string;
  /** The last element of the CA response: the roots the mesh trusts (docs/design/hbone.md, TLS: chain layout). */
  readonly rootsPem: string;
  readonly spiffeId: string;
  /** ms since the epoch */
  readonly notBefore: number;
  readonly notAfter: number;
}

export interface CertSourceOptions {
  /** host:port of the daemon's CA (istio CreateCertificate on 15012). */
  address: string;
  serverName: string;
  rootCaFile: string;
  tokenFile: string;
  clusterId: string;
  trustDomain: string;
  /** ns/sa */
  identity: string;
  ttlMs: number;
  clock: Clock;
  logger: Logger;
  /** Called with every new certificate, after it is held. */
  onRotate: (id: GatewayIdentity) => void;
  /** Deadline of one CreateCertificate call. */
  callTimeoutMs?: number;
  backoff?: { initialMs: number; maxMs: number };
}

const CALL_TIMEOUT_MS = 10_000;

/**
 * Fetches the gateway's certificate from the daemon's CA as a dedicated-mode
 * ztunnel does (bearer token of the gateway's own service account, clusterid
 * header, P-256 key, CSR with the SPIFFE URI; the CA issues the caller's
 * identity, not the CSR's) and renews it at half of its
 * lifetime; a failed call is retried with backoff while the old one stays.
 */
export class CertSource {
  private current?: GatewayIdentity;
  private timer?: NodeJS.Timeout;
  private wake?: () => void;
  private client?: grpc.Client;
  private closed = false;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  renewals = 0;
  failures = 0;

  constructor(private readonly o: CertSourceOptions) {
    this.backoff = new Backoff({
      initialMs: o.backoff?.initialMs ?? 500,
      maxMs: o.backoff?.maxMs ?? 30_000,
      jitter: 0.2,
    });
    this.log = o.logger.child({ component: 'eastwest-cert' });
  }

  get identity(): GatewayIdentity | undefined {
    return this.current;
  }

  get spiffeId(): string {
    const [ns, sa] = this.o.identity.split('/');
    return spiffeUri(this.o.trustDomain, ns!, sa!);
  }

  /** First certificate; resolves once held (retries until then), rejects only when closed. */
  async start(): Promise<GatewayIdentity> {
    for (;;) {
      if (this.closed) throw new Error('certificate source closed');
      try {
        const id = await this.fetch();
        this.hold(id);
        return id;
      } catch (e) {
        this.failures++;
        const delay = this.backoff.next();
        this.log.warn({ err: (e as Error).message, retryInMs: delay }, 'certificate request failed');
        await new Promise<void>((r) => {
          this.timer = setTimeout(r, delay);
          this.wake = r; // close() ends the wait, and the loop then throws
        });
      }
    }
  }

  private hold(id: GatewayIdentity): void {
    this.current = id;
    this.backoff.reset();
    this.o.onRotate(id);
    this.schedule(id);
    this.log.info({ spiffeId: id.spiffeId, notAfter: new Date(id.notAfter).toISOString() }, 'certificate held');
  }

  /**
   * Renewal at half of the lifetime left when it arrived: the CA backdates
   * notBefore (2 min, for clock skew), which would otherwise shift the halfway
   * point of a short-lived certificate toward its expiry.
   */
  private schedule(id: GatewayIdentity): void {
    if (this.closed) return;
    const now = this.o.clock.now();
    const delay = Math.max(500, (id.notAfter - now) / 2);
    this.timer = setTimeout(() => void this.renew(), Math.min(delay, 2 ** 31 - 1));
    this.timer.unref?.();
  }

  private async renew(): Promise<void> {
    if (this.closed) return;
    try {
      const id = await this.fetch();
      this.renewals++;
      this.hold(id);
    } catch (e) {
      this.failures++;
      const delay = this.backoff.next();
      const err = (e as Error).message;
      this.log.warn({ err, retryInMs: delay }, 'certificate renewal failed; keeping the current one');
      this.timer = setTimeout(() => void this.renew(), delay);
      this.timer.unref?.();
    }
  }

  /** One CreateCertificate call with a fresh P-256 key. */
  async fetch(): Promise<GatewayIdentity> {
    const { privateKey, publicKey } = generateKeyPair('ec-p256');
    const spiffeId = this.spiffeId;
    const csr = createCsr({ publicKey, signer: createSigner(privateKey), uris: [spiffeId] });
    const token = fs.readFileSync(this.o.tokenFile, 'utf8').trim();
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    md.set('clusterid', this.o.clusterId);
    const client = this.grpcClient();
    const method = caServiceClient().service.CreateCertificate as grpc.MethodDefinition<CaRequest, CaResponse>;
    const res = await new Promise<CaResponse>((resolve, reject) => {
      const deadline = new Date(Date.now() + (this.o.callTimeoutMs ?? CALL_TIMEOUT_MS));
      const req: CaRequest = { csr, validity_duration: Math.round(this.o.ttlMs / 1000) };
      const { requestSerialize: ser, responseDeserialize: de } = method;
      const done = (err: grpc.ServiceError | null, r?: CaResponse): void => (err ? reject(err) : resolve(r!));
      client.makeUnaryRequest(CA_SERVICE_PATH, ser, de, req, md, { deadline }, done);
    });
    const chain = res.cert_chain ?? [];
    if (chain.length < 2) throw new Error(`CA returned ${chain.length} PEM element(s); want leaf, …, roots`);
    const leaf = new X509Certificate(chain[0]!);
    const uris = (leaf.subjectAltName ?? '')
      .split(', ')
      .filter((s) => s.startsWith('URI:'))
      .map((s) => s.slice(4));
    if (!uris.includes(spiffeId)) {
      // The CA issues the token's account: a token for another account yields another identity (pitfall 1).
      const got = uris.join(',') || 'no URI SAN';
      throw new Error(`CA issued ${got}, not ${spiffeId}: check the token's service account`);
    }
    return {
      certChainPem: chain.slice(0, -1).map(pemLine).join(''),
      keyPem: privateKeyToPem(privateKey),
      rootsPem: pemLine(chain[chain.length - 1]!),
      spiffeId,
      notBefore: Date.parse(leaf.validFrom),
      notAfter: Date.parse(leaf.validTo),
    };
  }

  private grpcClient(): grpc.Client {
    if (!this.client) {
      const ca = fs.readFileSync(this.o.rootCaFile, 'utf8');
      const ctx = tls.createSecureContext({ ca, minVersion: 'TLSv1.3', ciphers: TLS13_CIPHERS });
      this.client = new grpc.Client(this.o.address, grpc.credentials.createFromSecureContext(ctx), {
        'grpc.ssl_target_name_override': this.o.serverName,
      });
    }
    return this.client;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.wake?.();
    this.wake = undefined;
    this.client?.close();
    this.client = undefined;
  }
}

const pemLine = (p: string): string => (p.endsWith('\n') ? p : `${p}\n`);
