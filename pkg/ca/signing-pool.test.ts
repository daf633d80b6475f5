import t from 'tap';
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSilentLogger } from '../log';
import { createCsr, createSigner, generateKeyPair, readCsr } from '../x509';
import { SigningPool } from './signing-pool';
import type { SigningJob } from './signing-protocol';

const logger = createSilentLogger();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signing-pool-test-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const REAL_WORKER = path.join(__dirname, 'signing-worker.js');
const ca = generateKeyPair('rsa-2048');

function job(pem: string): SigningJob {
  return { proof: readCsr(pem).proof, tbs: crypto.randomBytes(600) };
}
function csr(alg: 'ec-p256' | 'rsa-2048' = 'ec-p256'): string {
  const k = generateKeyPair(alg);
  return createCsr({ publicKey: k.publicKey, signer: createSigner(k.privateKey), uris: ['spiffe://td/ns/n/sa/s'] });
}
/** The CSR with one bit of its signature flipped. */
function tampered(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  der[der.length - 1]! ^= 0x01;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
}
function script(name: string, body: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, body);
  return p;
}

t.test('jobs queued together are signed on every thread, and the signatures verify with the CA key', async (t) => {
  const pool = new SigningPool({ key: ca.privateKey, threads: 2, logger });
  t.teardown(() => pool.close());
  const jobs = [...Array.from({ length: 6 }, () => job(csr())), job(csr('rsa-2048'))];
  const sigs = await Promise.all(jobs.map((j) => pool.sign(j)));
  t.equal(pool.running, 2, 'both threads took jobs');
  sigs.forEach((s, i) =>
    t.ok(crypto.verify('sha256', Buffer.from(jobs[i]!.tbs), ca.publicKey, s), `job ${i}: its own TBS, CA key`),
  );
});

t.test('a proof that does not hold is refused with the catalogue code, and nothing is signed', async (t) => {
  const pool = new SigningPool({ key: ca.privateKey, threads: 1, logger });
  t.teardown(() => pool.close());
  const good = job(csr());
  const bad = pool.sign(job(tampered(csr())));
  await t.rejects(bad, { code: 'x509.csr_bad_signature', grpcCode: 3 }, 'tampered signature');
  t.ok(await pool.sign(good), 'the thread goes on with the next job');
  // Y's last bit flipped: the point is off the curve (x509.test.ts explains why).
  const off = job(csr());
  const spki = Buffer.from(off.proof.spki);
  spki[spki.length - 1]! ^= 0x01;
  await t.rejects(pool.sign({ ...off, proof: { ...off.proof, spki } }), {
    code: 'x509.csr_unsupported_key',
    grpcCode: 3,
  });
});

t.test('a thread that exits fails its jobs with ca.signer_failed and is replaced on the next use', async (t) => {
  const marker = path.join(dir, 'died-once');
  // The first thread exits on its first batch; the one started after it is the real worker.
  const dying = script(
    'dies-once.js',
    `const fs = require('node:fs');
if (fs.existsSync(${JSON.stringify(marker)})) require(${JSON.stringify(REAL_WORKER)});
else require('node:worker_threads').parentPort.once('message', () => {
  fs.writeFileSync(${JSON.stringify(marker)}, '');
  process.exit(3);
});`,
  );
  const pool = new SigningPool({ key: ca.privateKey, threads: 1, logger, script: dying });
  t.teardown(() => pool.close());
  const lost = [pool.sign(job(csr())), pool.sign(job(csr()))];
  for (const p of lost) await t.rejects(p, { code: 'ca.signer_failed', grpcCode: 14 }, 'UNAVAILABLE: retry');
  t.equal(pool.running, 0, 'the dead thread is gone');
  const j = job(csr());
  t.ok(crypto.verify('sha256', Buffer.from(j.tbs), ca.publicKey, await pool.sign(j)), 'a new thread signs');
});

t.test('a batch not answered in time ends its thread and fails its jobs', async (t) => {
  const silent = script('silent.js', "require('node:worker_threads').parentPort.on('message', () => {});");
  const pool = new SigningPool({ key: ca.privateKey, threads: 1, logger, script: silent, batchTimeoutMs: 300 });
  t.teardown(() => pool.close());
  const t0 = performance.now();
  await t.rejects(pool.sign(job(csr())), { code: 'ca.signer_failed', grpcCode: 14 });
  t.ok(performance.now() - t0 < 10_000, 'failed by the deadline, not left waiting');
  t.equal(pool.running, 0, 'the thread was ended');
});

t.test('close() fails queued jobs, refuses new ones and is idempotent', async (t) => {
  const pool = new SigningPool({ key: ca.privateKey, threads: 1, logger });
  const queued = pool.sign(job(csr()));
  await pool.close();
  await pool.close();
  await t.rejects(queued, { code: 'ca.signer_failed' }, 'queued before close');
  await t.rejects(pool.sign(job(csr())), { code: 'ca.signer_failed' }, 'after close');
  t.equal(pool.running, 0);
});

t.test('idle threads do not keep the process alive', async (t) => {
  // A process that signs through the pool and never closes it must still exit on its own.
  const child = script(
    'idle-exit.js',
    `const { SigningPool } = require(${JSON.stringify(path.join(__dirname, 'signing-pool.js'))});
const x = require(${JSON.stringify(path.join(__dirname, '../x509/index.js'))});
const { createSilentLogger } = require(${JSON.stringify(path.join(__dirname, '../log/index.js'))});
const ca = x.generateKeyPair('ec-p256');
const pool = new SigningPool({ key: ca.privateKey, threads: 2, logger: createSilentLogger() });
const k = x.generateKeyPair('ec-p256');
const pem = x.createCsr({ publicKey: k.publicKey, signer: x.createSigner(k.privateKey), uris: ['spiffe://td/ns/n/sa/s'] });
Promise.all([1, 2, 3].map(() => pool.sign({ proof: x.readCsr(pem).proof, tbs: Buffer.alloc(100, 1) })))
  .then((s) => console.log('signed ' + s.length + ', threads ' + pool.running));`,
  );
  const p = spawn(process.execPath, [child], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const killer = setTimeout(() => p.kill('SIGKILL'), 20_000);
  const code = await new Promise<number | null>((resolve) => p.once('exit', resolve));
  clearTimeout(killer);
  t.equal(out.trim(), 'signed 3, threads 2');
  t.equal(code, 0, 'exited by itself, before the 20 s kill');
});

t.test('threads end after idleMs with nothing in flight, and start again on the next job', async (t) => {
  const pool = new SigningPool({ key: ca.privateKey, threads: 2, logger, idleMs: 200 });
  t.teardown(() => pool.close());
  await Promise.all([pool.sign(job(csr())), pool.sign(job(csr()))]);
  t.equal(pool.running, 2);
  const until = performance.now() + 10_000;
  while (pool.running > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
  t.equal(pool.running, 0, 'both ended once idle');
  const j = job(csr());
  t.ok(crypto.verify('sha256', Buffer.from(j.tbs), ca.publicKey, await pool.sign(j)), 'the next job is signed');
});
