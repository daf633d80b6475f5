import t from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DaemonError, GrpcCode } from '../../pkg/errors';
import { parseCsr, decodePemBlocks, encodePem } from '../../pkg/x509';
import { Rng, mutateBytes, mutateText, Outcomes, heapBound, CASE_BOUND_MS } from './mutate';

const SEED = 0xc5a1;
const CASES = 10_000;

/**
 * CSRs made by openssl (the independent oracle for "valid"): RSA 2048, EC P-256 and P-384, Ed25519 (unsupported
 * key).
 */
function opensslCsrs(): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-fuzz-csr-'));
  try {
    const out: string[] = [];
    const keys: [string, string[]][] = [
      ['rsa', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']],
      ['p256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']],
      ['p384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384']],
      ['ed', ['-algorithm', 'ED25519']],
    ];
    for (const [name, args] of keys) {
      const key = path.join(dir, `${name}.key`);
      const csr = path.join(dir, `${name}.csr`);
      execFileSync('openssl', ['genpkey', ...args, '-out', key], { stdio: 'ignore' });
      execFileSync(
        'openssl',
        [
          'req',
          '-new',
          '-key',
          key,
          '-subj',
          '/O=fuzz',
          '-addext',
          'subjectAltName=URI:spiffe://cluster.local/ns/default/sa/fuzz',
          '-out',
          csr,
        ],
        { stdio: 'ignore' },
      );
      out.push(fs.readFileSync(csr, 'utf8'));
    }
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

t.test(`CSR parse/verify: ${CASES} mutated openssl CSRs, seed ${SEED}`, async (t) => {
  t.comment(`fuzz seed ${SEED}`);
  const pems = opensslCsrs();
  const ders = pems.map((p) => decodePemBlocks(p)[0]!.der);
  // Baseline: openssl's RSA and EC CSRs parse, Ed25519 is refused with its code.
  for (const p of pems.slice(0, 3)) t.ok((await parseCsr(p)).spki.length > 0, 'valid openssl CSR parses');
  await t.rejects(parseCsr(pems[3]!), { code: 'x509.csr_unsupported_algorithm' }, 'Ed25519 CSR refused with a code');

  const rng = new Rng(SEED);
  const out = new Outcomes();
  const unclear: string[] = [];
  const forged: string[] = [];
  const spkis = new Set(
    (await Promise.all(pems.slice(0, 3).map((p) => parseCsr(p)))).map((p) => p.spki.toString('hex')),
  );
  const heap0 = process.memoryUsage().heapUsed;
  for (let i = 0; i < CASES; i++) {
    const k = rng.int(pems.length);
    let input: string;
    const mode = rng.int(10);
    if (mode < 7) input = encodePem('CERTIFICATE REQUEST', mutateBytes(rng, ders[k]!, ders));
    else if (mode < 9) input = mutateText(rng, pems[k]!, pems);
    else
      input = encodePem(
        rng.pick(['CERTIFICATE', 'NEW CERTIFICATE REQUEST', 'PRIVATE KEY']),
        mutateBytes(rng, ders[k]!, ders),
      );
    const t0 = performance.now();
    try {
      const parsed = await parseCsr(input);
      // An accepted mutant must carry one of the original keys: a changed key with a verifying signature is a forgery.
      if (!spkis.has(parsed.spki.toString('hex'))) forged.push(`case ${i}`);
      out.add('accepted');
    } catch (e) {
      if (
        e instanceof DaemonError &&
        e.code.startsWith('x509.') &&
        e.grpcCode === GrpcCode.INVALID_ARGUMENT &&
        e.message.length > 0
      )
        out.add(e.code);
      else if (unclear.length < 10)
        unclear.push(`case ${i}: ${(e as Error)?.constructor?.name} ${(e as Error)?.message}`);
      else out.add('unclear');
    }
    out.time(`case ${i}`, performance.now() - t0);
  }
  const heap1 = process.memoryUsage().heapUsed;
  t.comment(
    `outcomes: ${out.summary()}; slowest ${out.maxCaseMs.toFixed(1)} ms (${out.slowest}); ` +
      `heap ${(heap0 / 1e6).toFixed(0)} -> ${(heap1 / 1e6).toFixed(0)} MB`,
  );
  t.equal(out.total() + unclear.length, CASES, 'every case ran');
  t.same(
    unclear,
    [],
    'every rejection is a DaemonError x509.* with INVALID_ARGUMENT and a message (never a crash or a bare error)',
  );
  t.same(
    forged,
    [],
    'every accepted mutant still has an original key (only unsigned bytes such as PEM framing changed)',
  );
  t.ok(out.counts.size >= 4, `several distinct rejection codes (${[...out.counts.keys()].join(', ')})`);
  t.ok(out.maxCaseMs < CASE_BOUND_MS, 'no case hung');
  t.ok(heap1 < heapBound(heap0), 'heap bounded');
  // Correct afterwards: the originals still parse the same way.
  for (const p of pems.slice(0, 3)) t.ok((await parseCsr(p)).publicKey, 'valid CSR still parses after the run');
});
