// Issue 22 item 7: a maintained X.509 library (@peculiar/x509) against the
// hand-written DER code (pkg/x509) for what the CA does per certificate — parse
// and verify a ztunnel-shaped CSR, build and sign the leaf, PEM-encode it — and
// on the CSR fuzz corpus of e2e/fuzz/csr.test.ts (same seed, same mutations).
// Not a dependency: the library is loaded from X509_LIB_DIR (a folder where
// `npm install @peculiar/x509 reflect-metadata` was run), so nothing is added
// to package.json unless the project switches to it.
//   X509_LIB_DIR=/tmp/x509lib node dist/bench/ca/x509-library.js [seconds]
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import type { webcrypto } from 'node:crypto';
import { Authority } from '../../pkg/ca';
import { createSilentLogger } from '../../pkg/log';
import { createCsr, createSigner, decodePemBlocks, encodePem, generateKeyPair, parseCsr } from '../../pkg/x509';
import { mutateBytes, mutateText, Rng } from '../../e2e/fuzz/mutate';

type CryptoKey = webcrypto.CryptoKey;

/** The part of @peculiar/x509's API used here. */
interface Ext {
  readonly rawData: ArrayBuffer;
}
interface PublicKey {
  export(): Promise<CryptoKey>;
}
interface Lib {
  cryptoProvider: { set(c: webcrypto.Crypto): void };
  Pkcs10CertificateRequest: new (raw: string | Buffer) => { verify(): Promise<boolean>; publicKey: PublicKey };
  X509Certificate: new (raw: string) => { subject: string };
  X509CertificateGenerator: {
    create(p: Record<string, unknown>): Promise<{ toString(f: 'pem'): string }>;
  };
  SubjectAlternativeNameExtension: new (names: Array<{ type: string; value: string }>, critical: boolean) => Ext;
  KeyUsagesExtension: new (usages: number, critical: boolean) => Ext;
  KeyUsageFlags: { digitalSignature: number; keyEncipherment: number };
  ExtendedKeyUsageExtension: new (usages: string[], critical: boolean) => Ext;
  BasicConstraintsExtension: new (ca: boolean, pathLen: number | undefined, critical: boolean) => Ext;
  SubjectKeyIdentifierExtension: { create(k: PublicKey | CryptoKey): Promise<Ext> };
  AuthorityKeyIdentifierExtension: { create(k: CryptoKey): Promise<Ext> };
}

function loadLib(): Lib {
  const dir = process.env.X509_LIB_DIR ?? process.cwd();
  const req = createRequire(path.join(path.resolve(dir), 'package.json'));
  req('reflect-metadata'); // tsyringe (a dependency of @peculiar/x509) needs it loaded first
  const lib = req('@peculiar/x509') as Lib;
  lib.cryptoProvider.set(crypto.webcrypto);
  return lib;
}

type CaKey = 'rsa-2048' | 'ec-p256';

async function libraryIssuer(lib: Lib, caKey: CaKey) {
  const algo =
    caKey === 'rsa-2048'
      ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 }
      : { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await crypto.webcrypto.subtle.generateKey(algo, false, ['sign', 'verify']);
  const aki = await lib.AuthorityKeyIdentifierExtension.create(keys.publicKey);
  const constant = [
    new lib.KeyUsagesExtension(lib.KeyUsageFlags.digitalSignature | lib.KeyUsageFlags.keyEncipherment, true),
    new lib.ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], false),
    new lib.BasicConstraintsExtension(false, undefined, true),
    aki,
  ];
  const signingAlgorithm =
    caKey === 'rsa-2048' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', hash: 'SHA-256' };
  /** What Authority.sign does, through the library: parse + verify the CSR, build + sign the leaf, PEM. */
  return async (csrPem: string, uri: string): Promise<string> => {
    const csr = new lib.Pkcs10CertificateRequest(csrPem);
    if (!(await csr.verify())) throw new Error('CSR signature does not verify');
    const now = Date.now();
    const cert = await lib.X509CertificateGenerator.create({
      serialNumber: crypto.randomBytes(16).toString('hex').replace(/^./, '4'),
      issuer: 'O=cluster.local',
      subject: '',
      notBefore: new Date(now - 120_000),
      notAfter: new Date(now + 86_400_000),
      signingAlgorithm,
      publicKey: csr.publicKey,
      signingKey: keys.privateKey,
      extensions: [
        new lib.SubjectAlternativeNameExtension([{ type: 'url', value: uri }], true),
        ...constant,
        await lib.SubjectKeyIdentifierExtension.create(csr.publicKey),
      ],
    });
    return cert.toString('pem');
  };
}

/** Alternating ~100 ms windows of the two paths (sequential awaits), CPU µs per certificate for each. */
async function alternate(
  seconds: number,
  work: Record<string, () => Promise<unknown>>,
): Promise<Record<string, number>> {
  const acc: Record<string, { cpu: number; n: number }> = {};
  for (const [k, f] of Object.entries(work)) {
    for (let i = 0; i < 50; i++) await f();
    acc[k] = { cpu: 0, n: 0 };
  }
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (const [k, f] of Object.entries(work)) {
      const c0 = process.cpuUsage();
      const until = performance.now() + 100;
      let n = 0;
      while (performance.now() < until) {
        await f();
        n++;
      }
      const c = process.cpuUsage(c0);
      acc[k]!.cpu += c.user + c.system;
      acc[k]!.n += n;
    }
  }
  return Object.fromEntries(Object.entries(acc).map(([k, a]) => [k, a.cpu / a.n]));
}

/** openssl-made CSRs are the fuzz seeds in e2e/fuzz; here our own ztunnel-shaped ones (no openssl needed). */
function seeds(): string[] {
  return (['ec-p256', 'rsa-2048'] as const).map((a) => {
    const k = generateKeyPair(a);
    const uris = ['spiffe://cluster.local/ns/default/sa/fuzz'];
    return createCsr({ publicKey: k.publicKey, signer: createSigner(k.privateKey), uris });
  });
}

async function fuzz(lib: Lib, cases: number): Promise<Record<string, number>> {
  const pems = seeds();
  const ders = pems.map((p) => decodePemBlocks(p)[0]!.der);
  const rng = new Rng(0xc5a1);
  const r = {
    both_accept: 0,
    both_reject: 0,
    only_ours_accepts: 0,
    only_library_accepts: 0,
    ours_us: 0,
    library_us: 0,
  };
  for (let i = 0; i < cases; i++) {
    const k = rng.int(pems.length);
    const input =
      rng.int(10) < 8
        ? encodePem('CERTIFICATE REQUEST', mutateBytes(rng, ders[k]!, ders))
        : mutateText(rng, pems[k]!, pems);
    let t0 = performance.now();
    let ours = true;
    try {
      await parseCsr(input);
    } catch {
      ours = false;
    }
    r.ours_us += (performance.now() - t0) * 1000;
    t0 = performance.now();
    let theirs = true;
    try {
      theirs = await new lib.Pkcs10CertificateRequest(input).verify();
    } catch {
      theirs = false;
    }
    r.library_us += (performance.now() - t0) * 1000;
    if (ours && theirs) r.both_accept++;
    else if (!ours && !theirs) r.both_reject++;
    else if (ours) r.only_ours_accepts++;
    else r.only_library_accepts++;
  }
  r.ours_us /= cases;
  r.library_us /= cases;
  return r;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 4);
  const lib = loadLib();
  const out: Record<string, unknown> = { loadBefore: os.loadavg() };
  for (const caKey of ['ec-p256', 'rsa-2048'] as const) {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'x509-lib-'));
    try {
      const logger = createSilentLogger();
      const trustDomain = 'cluster.local';
      const authority = Authority.open({ stateDir, trustDomain, selfSignedKeyAlgorithm: caKey, logger });
      const uri = 'spiffe://cluster.local/ns/a/sa/b';
      const csrs = Array.from({ length: 200 }, () => {
        const k = generateKeyPair('ec-p256');
        return createCsr({ publicKey: k.publicKey, signer: createSigner(k.privateKey), uris: [uri] });
      });
      const viaLib = await libraryIssuer(lib, caKey);
      // The library's certificate must be one openssl/node accept: parse it once.
      new crypto.X509Certificate(await viaLib(csrs[0]!, uri));
      let i = 0;
      let j = 0;
      out[caKey] = await alternate(seconds, {
        ours: async () => authority.sign({ csrPem: csrs[i++ % csrs.length]!, identity: uri, ttlSeconds: 86400 }),
        library: () => viaLib(csrs[j++ % csrs.length]!, uri),
      });
    } finally {
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  }
  out.fuzz = await fuzz(lib, Number(process.env.X509_FUZZ_CASES ?? 10_000));
  out.loadAfter = os.loadavg();
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`x509-library: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
