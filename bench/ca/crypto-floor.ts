// The crypto a certificate needs, measured in the bench process: the ceiling
// (fixed keys), the fresh-key floor every Node CA pays (ztunnel sends a new key
// in each CSR, imported before its first verify) and the CA's own sign path.
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Authority } from '../../pkg/ca';
import { createSilentLogger } from '../../pkg/log';
import { createCsr, createSigner, generateKeyPair } from '../../pkg/x509';

export type CaKey = 'rsa-2048' | 'ec-p256';

export interface WindowStats {
  /** Best window: the rate this machine reaches when nothing else interferes (interference only slows). */
  bestPerCpuSecond: number;
  medianPerCpuSecond: number;
  perCpuSecond: number;
  perWallSecond: number;
  /** CPU microseconds per operation over the whole run. */
  cpuUs: number;
}

function caPrivateKey(caKey: CaKey): crypto.KeyObject {
  return caKey === 'rsa-2048'
    ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

/** One P-256 verify (the CSR, fixed key) + one CA signature: the pair the ceiling counts. */
export function cryptoPair(caKey: CaKey): () => void {
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ca = caPrivateKey(caKey);
  const cri = crypto.randomBytes(250);
  const sig = crypto.sign('sha256', cri, ec.privateKey);
  const tbs = crypto.randomBytes(600);
  return () => {
    crypto.verify('sha256', cri, ec.publicKey, sig);
    crypto.sign('sha256', tbs, ca);
  };
}

/** 0x04 ‖ X ‖ Y of a P-256 public key: the tail of its 91-byte SPKI. */
function rawPoint(publicKey: crypto.KeyObject): Buffer {
  return publicKey.export({ type: 'spki', format: 'der' }).subarray(26);
}

const P256 = { name: 'ECDSA', namedCurve: 'P-256' };

/** A fresh P-256 public key imported the way pkg/x509 csr.ts does it: WebCrypto's raw import of the point. */
async function importPoint(point: Buffer): Promise<crypto.KeyObject> {
  return crypto.KeyObject.from(await crypto.subtle.importKey('raw', point, P256, false, ['verify']));
}

/** The same pair with the CSR's fresh P-256 key imported first (as pkg/x509 csr.ts does it: raw point). */
export function cryptoPairFreshKey(caKey: CaKey): () => Promise<void> {
  const ca = caPrivateKey(caKey);
  const cri = crypto.randomBytes(250);
  const tbs = crypto.randomBytes(600);
  const keys = Array.from({ length: 256 }, () => {
    const k = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return { point: rawPoint(k.publicKey), sig: crypto.sign('sha256', cri, k.privateKey) };
  });
  let i = 0;
  return async () => {
    const k = keys[i++ % keys.length]!;
    crypto.verify('sha256', cri, await importPoint(k.point), k.sig);
    crypto.sign('sha256', tbs, ca);
  };
}

/**
 * The single operations of the pairs above, each alone, so that Node's cost per call can be set against
 * `openssl speed` for the same operation in the same run: a P-256 verify with a fixed key, the import of a
 * fresh P-256 public key (raw point, as csr.ts does it), a verify with a key imported just before
 * (import + first use), and a CA signature of a certificate-sized TBS for each CA key type.
 */
export function singleOps(): Record<string, () => void | Promise<void>> {
  const data = crypto.randomBytes(250);
  const tbs = crypto.randomBytes(600);
  const fixed = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const fixedSig = crypto.sign('sha256', data, fixed.privateKey);
  const keys = Array.from({ length: 256 }, () => {
    const k = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return { point: rawPoint(k.publicKey), sig: crypto.sign('sha256', data, k.privateKey) };
  });
  const rsa = caPrivateKey('rsa-2048');
  let i = 0;
  let j = 0;
  return {
    p256_verify_fixed_key: () => void crypto.verify('sha256', data, fixed.publicKey, fixedSig),
    p256_key_import: async () => void (await importPoint(keys[i++ % keys.length]!.point)),
    p256_import_and_verify: async () => {
      const k = keys[j++ % keys.length]!;
      crypto.verify('sha256', data, await importPoint(k.point), k.sig);
    },
    p256_sign: () => void crypto.sign('sha256', tbs, fixed.privateKey),
    rsa2048_sign: () => void crypto.sign('sha256', tbs, rsa),
  };
}

const IDENTITY = 'spiffe://cluster.local/ns/a/sa/b';

/**
 * Authority.sign (CSR parse + key import + verify, DER build, CA sign, PEM) on ztunnel-shaped CSRs, one at a
 * time, so each runs as a lone request does: its crypto inline (the pool is for requests that overlap).
 */
export function signPath(caKey: CaKey): { run: () => Promise<void>; close: () => void } {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ca-path-'));
  const logger = createSilentLogger();
  const authority = Authority.open({ stateDir, trustDomain: 'cluster.local', selfSignedKeyAlgorithm: caKey, logger });
  const csrs = Array.from({ length: 200 }, () => {
    const k = generateKeyPair('ec-p256');
    return createCsr({ publicKey: k.publicKey, signer: createSigner(k.privateKey), uris: [IDENTITY] });
  });
  let i = 0;
  return {
    run: async () => {
      await authority.sign({ csrPem: csrs[i++ % csrs.length]!, identity: IDENTITY, ttlSeconds: 3600 });
    },
    close: () => fs.rmSync(stateDir, { recursive: true, force: true }),
  };
}

/**
 * Runs the workloads in alternating ~100 ms windows of this process so all of
 * them see the same machine load. Per-window rates are per CPU second of this process (all its threads).
 * A workload that returns a promise runs one operation at a time.
 */
export async function alternating(
  seconds: number,
  work: Record<string, () => void | Promise<void>>,
): Promise<Record<string, WindowStats>> {
  const names = Object.keys(work);
  for (const n of names) for (let i = 0; i < 20; i++) await work[n]!(); // warm-up (JIT, lazy OpenSSL init)
  const acc = Object.fromEntries(names.map((n) => [n, { cpu: 0, wall: 0, n: 0, rates: [] as number[] }]));
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (const name of names) {
      const fn = work[name]!;
      const a = acc[name]!;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const until = t0 + 100;
      let n = 0;
      while (performance.now() < until) {
        const pending = fn();
        if (pending) await pending;
        n++;
      }
      const c = process.cpuUsage(c0);
      const cpu = (c.user + c.system) / 1e6;
      a.cpu += cpu;
      a.wall += (performance.now() - t0) / 1000;
      a.n += n;
      if (cpu > 0) a.rates.push(n / cpu);
    }
  }
  return Object.fromEntries(
    names.map((n) => {
      const a = acc[n]!;
      const sorted = [...a.rates].sort((x, y) => x - y);
      return [
        n,
        {
          bestPerCpuSecond: sorted[sorted.length - 1] ?? NaN,
          medianPerCpuSecond: sorted[Math.floor(sorted.length / 2)] ?? NaN,
          perCpuSecond: a.n / a.cpu,
          perWallSecond: a.n / a.wall,
          cpuUs: (a.cpu * 1e6) / a.n,
        },
      ];
    }),
  );
}

export interface OpensslSpeed {
  rsaSign: number;
  ecSign: number;
  ecVerify: number;
  version: string;
  args: string;
}

/**
 * Independent oracle: `openssl speed` (the system OpenSSL, its own optimised
 * loops, rates per CPU user-second) for RSA-2048 and P-256 on one core, best of
 * `runs`. Undefined when openssl is missing or its output changes.
 */
export function opensslSpeed(seconds: number, runs: number): OpensslSpeed | undefined {
  const args = ['speed', '-mr', '-seconds', String(seconds), 'rsa2048', 'ecdsap256'];
  try {
    let rsaSign = 0;
    let ecSign = 0;
    let ecVerify = 0;
    for (let i = 0; i < runs; i++) {
      const timeout = (seconds * 4 + 30) * 1000;
      const out = execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'ignore'], timeout }).toString();
      // -mr lines: +F2:<i>:2048:<sign/s>:<verify/s> (RSA) and +F4:<i>:256:<sign/s>:<verify/s> (ECDSA).
      const rsa = /^\+F2:\d+:2048:([\d.]+):([\d.]+)$/m.exec(out);
      const ec = /^\+F4:\d+:256:([\d.]+):([\d.]+)$/m.exec(out);
      if (!rsa || !ec) return undefined;
      rsaSign = Math.max(rsaSign, Number(rsa[1]));
      ecSign = Math.max(ecSign, Number(ec[1]));
      ecVerify = Math.max(ecVerify, Number(ec[2]));
    }
    const version = execFileSync('openssl', ['version'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    return { rsaSign, ecSign, ecVerify, version, args: `openssl ${args.filter((a) => a !== '-mr').join(' ')}` };
  } catch {
    return undefined;
  }
}
