import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The bare relay process (bench/sim/relay-floor.ts). */
export const RELAY_FLOOR_JS = path.join(__dirname, '..', 'sim', 'relay-floor.js');

export interface RelayConfig {
  mode: 'h2' | 'tls' | 'tls-batched' | 'gateway';
  listen: string;
  cert: string;
  key: string;
  ca: string;
  destinations: string[];
}

export interface PemFiles {
  cert: string;
  key: string;
}

const openssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });

/** A self-signed P-256 CA in dir (ca-cert.pem, ca-key.pem). */
export function makeCa(dir: string): PemFiles {
  const key = path.join(dir, 'ca-key.pem');
  const cert = path.join(dir, 'ca-cert.pem');
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/O=bench relay floor CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return { cert, key };
}

/**
 * A P-256 leaf for `spiffe` signed by ca, written as name-{cert,key}.pem in dir; the cert file holds the leaf
 * followed by `chainPem` (the intermediates and root a workload presents, as the CA's response gives them).
 */
export function mintLeaf(dir: string, name: string, ca: PemFiles, spiffe: string, chainPem = ''): PemFiles {
  const key = path.join(dir, `${name}-key.pem`);
  const csr = path.join(dir, `${name}.csr`);
  const leaf = path.join(dir, `${name}-leaf.pem`);
  const ext = path.join(dir, `${name}.ext`);
  const cert = path.join(dir, `${name}-cert.pem`);
  fs.writeFileSync(
    ext,
    [
      `subjectAltName=critical,URI:${spiffe}`,
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      '',
    ].join('\n'),
  );
  openssl([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    '/O=bench',
    '-keyout',
    key,
    '-out',
    csr,
  ]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    ext,
    '-out',
    leaf,
  ]);
  fs.writeFileSync(cert, fs.readFileSync(leaf, 'utf8') + chainPem);
  return { cert, key };
}

/** Reads the relay's {ev:'ready', port} line from its stdout (bounded). */
export function relayReady(child: ChildProcess, timeoutMs = 20_000): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('relay floor: not ready in time')), timeoutMs);
    const onData = (b: Buffer): void => {
      buf += b.toString('utf8');
      const m = /\{"ev":"ready","port":(\d+)\}/.exec(buf);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.stdout!.resume();
      resolve(Number(m[1]));
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`relay floor exited (${String(code)}) before it was ready`));
    });
  });
}

/** Starts the relay on loopback as a child of this process; resolves once it listens. */
export async function startLocalRelay(cfg: RelayConfig): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [RELAY_FLOOR_JS, JSON.stringify(cfg)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return { child, port: await relayReady(child) };
}
