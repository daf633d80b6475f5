import t from 'tap';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  checkCsrProof,
  createCsr,
  createSigner,
  generateKeyPair,
  parseCsr,
  parseSpiffeId,
  randomSerial,
  readCsr,
  splitPemCertificates,
  MAX_CSR_BYTES,
} from './index';
import { decodeOid, oid, readTlv, seq, time, tlv } from './der';

const OPENSSL = '/usr/bin/openssl';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x509-test-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

function ossl(args: string[], input?: string, bytes?: Buffer): string {
  return execFileSync(OPENSSL, args, { cwd: dir, input: bytes ?? input, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
}

/** A CSR the way ztunnel shapes it, made by openssl (the independent oracle). */
function opensslCsr(name: string, keyArgs: string[], extra: string[] = []): string {
  ossl(['genpkey', ...keyArgs, '-out', `${name}.key`]);
  ossl([
    'req',
    '-new',
    '-key',
    `${name}.key`,
    '-subj',
    '/',
    '-addext',
    'subjectAltName=critical,URI:spiffe://cluster.local/ns/a/sa/b',
    ...extra,
    '-out',
    `${name}.csr`,
  ]);
  return fs.readFileSync(path.join(dir, `${name}.csr`), 'utf8');
}

async function code(fn: () => unknown): Promise<{ code?: string; grpcCode?: number }> {
  try {
    await fn();
  } catch (e) {
    const err = e as { code?: string; grpcCode?: number };
    return { code: err.code, grpcCode: err.grpcCode };
  }
  return {};
}

t.test('accepts openssl CSRs of every supported key type', async (t) => {
  const p256 = await parseCsr(opensslCsr('p256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']));
  t.equal(p256.keyType, 'ec-p256');
  const p384 = await parseCsr(
    opensslCsr('p384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], ['-sha384']),
  );
  t.equal(p384.keyType, 'ec-p384');
  const rsa = await parseCsr(opensslCsr('rsa', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']));
  t.equal(rsa.keyType, 'rsa');
  t.equal(rsa.keyBits, 2048);
  ossl([
    'req',
    '-new',
    '-key',
    'rsa.key',
    '-subj',
    '/',
    '-sigopt',
    'rsa_padding_mode:pss',
    '-sigopt',
    'rsa_pss_saltlen:32',
    '-out',
    'pss.csr',
  ]);
  t.equal(
    (await parseCsr(fs.readFileSync(path.join(dir, 'pss.csr'), 'utf8'))).keyType,
    'rsa',
    'RSA-PSS signed CSR verifies',
  );
  // The SPKI handed to the certificate builder is exactly the CSR's key.
  const pub = crypto.createPublicKey(fs.readFileSync(path.join(dir, 'p256.key')));
  t.same(p256.spki, pub.export({ type: 'spki', format: 'der' }));
});

t.test('refuses bad CSRs with stable codes and InvalidArgument', async (t) => {
  const good = opensslCsr('p256b', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
  t.same(await code(() => parseCsr('hello')), { code: 'x509.csr_not_pem', grpcCode: 3 }, 'not PEM');
  t.same(await code(() => parseCsr('')), { code: 'x509.csr_not_pem', grpcCode: 3 }, 'empty');
  ossl(['req', '-x509', '-key', 'p256b.key', '-subj', '/CN=x', '-days', '1', '-out', 'self.pem']);
  t.same(
    await code(() => parseCsr(fs.readFileSync(path.join(dir, 'self.pem'), 'utf8'))),
    { code: 'x509.csr_wrong_pem_type', grpcCode: 3 },
    'certificate instead of CSR',
  );
  t.same(await code(() => parseCsr(good + good)), { code: 'x509.csr_wrong_pem_type', grpcCode: 3 }, 'two CSRs');
  // Tamper with the last byte of the DER (inside the signature).
  const der = Buffer.from(good.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  der[der.length - 1]! ^= 0x01;
  const tampered =
    `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n` + '-----END CERTIFICATE REQUEST-----\n';
  t.same(await code(() => parseCsr(tampered)), { code: 'x509.csr_bad_signature', grpcCode: 3 }, 'bad signature');
  // Change a byte of the public key: the signature no longer matches.
  const der2 = Buffer.from(good.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  der2[60]! ^= 0x01;
  const r = await code(() =>
    parseCsr(`-----BEGIN CERTIFICATE REQUEST-----\n${der2.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`),
  );
  t.ok(
    r.code === 'x509.csr_bad_signature' || r.code === 'x509.csr_unsupported_key',
    `modified key refused (${r.code})`,
  );
  t.equal(r.grpcCode, 3);
  const noise = crypto.randomBytes(1024 * 1024).toString('base64');
  t.same(await code(() => parseCsr(noise)), { code: 'x509.csr_too_large', grpcCode: 3 }, '1 MB of noise');
  t.ok(MAX_CSR_BYTES <= 64 * 1024);
  const garbage =
    `-----BEGIN CERTIFICATE REQUEST-----\n${crypto.randomBytes(300).toString('base64')}\n` +
    '-----END CERTIFICATE REQUEST-----\n';
  t.same(await code(() => parseCsr(garbage)), { code: 'x509.csr_malformed', grpcCode: 3 }, 'random DER');
  const small = opensslCsr('rsa1024', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024']);
  t.same(await code(() => parseCsr(small)), { code: 'x509.csr_unsupported_key', grpcCode: 3 }, 'RSA-1024');
  const ed = opensslCsr('ed', ['-algorithm', 'ED25519']);
  const edr = await code(() => parseCsr(ed));
  t.ok(
    edr.code === 'x509.csr_unsupported_algorithm' || edr.code === 'x509.csr_unsupported_key',
    `Ed25519 refused (${edr.code})`,
  );
});

t.test('a proof checked after crossing to another thread accepts and refuses what parseCsr does', async (t) => {
  const good = [
    opensslCsr('pool-p256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']),
    opensslCsr('pool-p384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], ['-sha384']),
    opensslCsr('pool-rsa', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']),
  ];
  ossl([
    'req',
    '-new',
    '-key',
    'pool-rsa.key',
    '-subj',
    '/',
    '-sigopt',
    'rsa_padding_mode:pss',
    '-out',
    'pool-pss.csr',
  ]);
  good.push(fs.readFileSync(path.join(dir, 'pool-pss.csr'), 'utf8'));
  for (const pem of good) {
    // structuredClone is what postMessage does to a signing worker's job: Buffers arrive as Uint8Arrays.
    const [inline, pool] = [await parseCsr(pem), await checkCsrProof(structuredClone(readCsr(pem).proof))];
    t.same([pool.keyType, pool.keyBits], [inline.keyType, inline.keyBits], inline.keyType);
    t.ok(readCsr(pem).spki.equals(inline.spki), `${inline.keyType}: readCsr finds the same key`);
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 1]! ^= 0x01; // inside the signature
    const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    const cloned = structuredClone(readCsr(bad).proof);
    t.same(await code(() => checkCsrProof(cloned)), { code: 'x509.csr_bad_signature', grpcCode: 3 }, 'tampered');
  }
});

t.test('a P-256 key whose point is not on the curve is refused before any signature check', async (t) => {
  const { privateKey, publicKey } = generateKeyPair('ec-p256');
  const pem = createCsr({ publicKey, signer: createSigner(privateKey), uris: ['spiffe://td/ns/n/sa/s'] });
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  // The SPKI's point is 0x04 ‖ X ‖ Y; flipping Y's last bit leaves the point off the curve (y² = x³ − 3x + b has
  // only ±Y, and Y ^ 1 is -Y mod p only for Y = (p ± 1) / 2).
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const at = der.indexOf(spki);
  t.ok(at > 0, 'the SPKI is in the request');
  der[at + spki.length - 1]! ^= 0x01;
  const off = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  t.same(await code(() => parseCsr(off)), { code: 'x509.csr_unsupported_key', grpcCode: 3 }, 'off-curve point');
  // The point at infinity has no uncompressed form; an all-zero X ‖ Y is not on the curve either.
  der.fill(0, at + spki.length - 64, at + spki.length);
  const zeros = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  t.same(await code(() => parseCsr(zeros)), { code: 'x509.csr_unsupported_key', grpcCode: 3 }, '(0, 0)');
});

t.test('createCsr output verifies with openssl', async (t) => {
  const { privateKey, publicKey } = generateKeyPair('ec-p256');
  const pem = createCsr({ publicKey, signer: createSigner(privateKey), uris: ['spiffe://td/ns/n/sa/s'] });
  fs.writeFileSync(path.join(dir, 'own.csr'), pem);
  const text = execFileSync(OPENSSL, ['req', '-in', 'own.csr', '-noout', '-verify', '-text'], {
    cwd: dir,
    stdio: ['pipe', 'pipe', 'pipe'],
  }).toString();
  t.match(text, /Subject Alternative Name: critical\s+URI:spiffe:\/\/td\/ns\/n\/sa\/s/);
  t.equal((await parseCsr(pem)).keyType, 'ec-p256');
});

t.test('requestedUris: the URI SANs the CSR asks for, read next to other names and extensions', async (t) => {
  // openssl shapes the request as ztunnel does (extensionRequest → subjectAltName), plus DNS/IP names
  // and a second extension.
  ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'uris.key']);
  ossl([
    'req',
    '-new',
    '-key',
    'uris.key',
    '-subj',
    '/CN=x',
    '-addext',
    'subjectAltName=DNS:a.example,URI:spiffe://cluster.local/ns/bookstore/sa/frontend,' +
      'IP:10.0.0.1,URI:spiffe://td/ns/n/sa/s',
    '-addext',
    'keyUsage=digitalSignature',
    '-out',
    'uris.csr',
  ]);
  t.same(
    (await parseCsr(fs.readFileSync(path.join(dir, 'uris.csr'), 'utf8'))).requestedUris,
    ['spiffe://cluster.local/ns/bookstore/sa/frontend', 'spiffe://td/ns/n/sa/s'],
    'both URIs, in order; DNS and IP names skipped',
  );
  ossl(['req', '-new', '-key', 'uris.key', '-subj', '/CN=x', '-out', 'none.csr']);
  t.same(
    (await parseCsr(fs.readFileSync(path.join(dir, 'none.csr'), 'utf8'))).requestedUris,
    [],
    'no extensionRequest: none',
  );
  const { privateKey, publicKey } = generateKeyPair('ec-p256');
  const own = createCsr({ publicKey, signer: createSigner(privateKey), uris: ['spiffe://a/ns/b/sa/c'] });
  t.same((await parseCsr(own)).requestedUris, ['spiffe://a/ns/b/sa/c'], 'our own createCsr');
});

t.test('SPIFFE ids follow ztunnel’s five-segment rule', async (t) => {
  t.same(parseSpiffeId('spiffe://cluster.local/ns/default/sa/bookinfo'), {
    uri: 'spiffe://cluster.local/ns/default/sa/bookinfo',
    trustDomain: 'cluster.local',
    namespace: 'default',
    serviceAccount: 'bookinfo',
  });
  for (const bad of [
    'spiffe://td/ns/a',
    'http://td/ns/a/sa/b',
    'spiffe://td/ns/a/sa/b/extra',
    'spiffe://td/xs/a/sa/b',
    'spiffe://TD/ns/a/sa/b',
    'spiffe://td/ns//sa/b',
  ]) {
    t.equal((await code(() => parseSpiffeId(bad))).code, 'x509.bad_spiffe_id', bad);
  }
});

t.test('splitPemCertificates yields newline-terminated single blocks', async (t) => {
  ossl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'a.key',
    '-subj',
    '/CN=a',
    '-days',
    '1',
    '-out',
    'a.pem',
  ]);
  const one = fs.readFileSync(path.join(dir, 'a.pem'), 'utf8');
  const parts = splitPemCertificates(one.trimEnd() + '\r\n' + one);
  t.equal(parts.length, 2);
  for (const p of parts) t.ok(p.endsWith('-----END CERTIFICATE-----\n'));
});

t.test('mutated CSRs fail only with x509.* InvalidArgument errors (seeded fuzz)', async (t) => {
  const { privateKey, publicKey } = generateKeyPair('ec-p256');
  const base = Buffer.from(
    createCsr({ publicKey, signer: createSigner(privateKey), uris: ['spiffe://td/ns/n/sa/s'] }).replace(
      /-----[^-]+-----|\s/g,
      '',
    ),
    'base64',
  );
  const rsaPem = opensslCsr(
    'fuzzrsa',
    ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
    ['-sigopt', 'rsa_padding_mode:pss'],
  );
  const rsaBase = Buffer.from(rsaPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  // Small deterministic PRNG (mulberry32) so failures reproduce.
  let seed = 0x5eed;
  const rnd = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const unexpected: string[] = [];
  let accepted = 0;
  for (let i = 0; i < 1500; i++) {
    const src = i % 3 === 0 ? rsaBase : base;
    let der = Buffer.from(src);
    const kind = Math.floor(rnd() * 3);
    if (kind === 0) der[Math.floor(rnd() * der.length)] = Math.floor(rnd() * 256);
    else if (kind === 1) der = der.subarray(0, Math.floor(rnd() * der.length));
    else
      der = Buffer.concat([
        der.subarray(0, Math.floor(rnd() * der.length)),
        Buffer.from([Math.floor(rnd() * 256)]),
        der.subarray(Math.floor(rnd() * der.length)),
      ]);
    const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    try {
      await parseCsr(pem);
      accepted++;
    } catch (e) {
      const err = e as { code?: string; grpcCode?: number };
      if (!err.code?.startsWith('x509.csr_') || err.grpcCode !== 3)
        unexpected.push(`${i}: ${String(err.code)} ${(e as Error).message}`);
    }
  }
  t.same(unexpected.slice(0, 5), [], 'every refusal is a stable x509.csr_* InvalidArgument');
  // A mutation that still verifies must have hit a byte the signature does not cover (e.g. an unused tag bit): rare.
  t.ok(accepted < 150, `few mutations survive (${accepted})`);
});

t.test('PEM framing: labels must pair, bodies must be base64, surrounding text is ignored', async (t) => {
  const good = opensslCsr('pem', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
  const body = good.replace(/-----[^-]+-----/g, '').trim();
  t.equal(
    (await parseCsr(`subject=/\nissuer text\n${good}trailing words\n`)).keyType,
    'ec-p256',
    'openssl-style preamble and trailer',
  );
  t.equal((await parseCsr(good.replace(/\n/g, '\r\n'))).keyType, 'ec-p256', 'CRLF');
  t.equal(
    (await code(() => parseCsr(`-----BEGIN CERTIFICATE REQUEST-----\n${body}\n-----END CERTIFICATE-----\n`))).code,
    'x509.csr_not_pem',
    'mismatched END label',
  );
  t.equal(
    (await code(() => parseCsr(`-----BEGIN CERTIFICATE REQUEST-----\n${body}!\n-----END CERTIFICATE REQUEST-----\n`)))
      .code,
    'x509.csr_not_pem',
    'non-base64 body',
  );
  t.equal(
    (await code(() => parseCsr('-----BEGIN A-----\n'.repeat(3000)))).code,
    'x509.csr_not_pem',
    'thousands of unterminated BEGIN lines',
  );
});

t.test('OID and TLV codec agree with openssl asn1parse and with themselves', async (t) => {
  const oids = [
    '1.2.840.10045.2.1',
    '1.2.840.113549.1.1.11',
    '2.5.29.17',
    '0.0',
    '1.39',
    '2.999.1',
    '2.5.4.3',
    '1.3.6.1.4.1.11129.2.4.2',
    '2.25.329800735698586629295641978511506172918',
    '1.2.9007199254740993',
  ];
  for (const dotted of oids) {
    const der = oid(dotted);
    t.equal(decodeOid(der, readTlv(der, 0)), dotted, `round trip ${dotted}`);
    const parsed = ossl(['asn1parse', '-inform', 'DER', '-i'], undefined, der);
    // openssl prints the dotted form for OIDs it has no name for, else the short name; both are fine, the DER must
    // parse.
    t.match(parsed, /OBJECT/, `openssl parses ${dotted}`);
  }
  t.equal(
    ossl(['asn1parse', '-inform', 'DER'], undefined, oid('1.2.840.10045.2.1')).trim().split(':').pop(),
    'id-ecPublicKey',
  );
  for (const bad of [Buffer.from([6, 0]), Buffer.from([6, 1, 0x80]), Buffer.from([6, 2, 0x2a, 0x86])]) {
    t.throws(() => decodeOid(bad, readTlv(bad, 0)), /OBJECT IDENTIFIER|OID/, `refuses ${bad.toString('hex')}`);
  }
  // Lengths across the short/long form boundaries encode minimally and read back.
  for (const n of [0, 1, 127, 128, 255, 256, 65535, 65536]) {
    const b = tlv(0x04, Buffer.alloc(n, 7));
    const r = readTlv(b, 0);
    t.same([r.end - r.valueStart, r.end], [n, b.length], `length ${n}`);
  }
  t.equal(tlv(0x30, seq(), Buffer.from([5, 0])).toString('hex'), '30043000' + '0500');
  // Same second, same bytes; callers get their own copy.
  const a = time(Date.UTC(2030, 0, 2, 3, 4, 5, 600));
  a[2] = 0;
  t.equal(time(Date.UTC(2030, 0, 2, 3, 4, 5, 100)).toString('latin1'), '\x17\x0d300102030405Z');
  t.equal(time(Date.UTC(2050, 0, 1)).toString('latin1'), '\x18\x0f20500101000000Z');
});

t.test('serials are positive, 16 bytes and never repeat', async (t) => {
  const seen = new Set<string>();
  const bad: string[] = [];
  // 1000 draws cross several refills of the 4 KiB pool.
  for (let i = 0; i < 1000; i++) {
    const s = randomSerial();
    if (s.length !== 16 || (s[0]! & 0xc0) !== 0x40) bad.push(s.toString('hex'));
    seen.add(s.toString('hex'));
  }
  t.same(bad, [], '16 bytes, top byte in 0x40..0x7f');
  t.equal(seen.size, 1000);
});
