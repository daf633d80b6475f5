import t from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSilentLogger } from '../log';
import { Authority, ServingIdentity } from './index';

const OPENSSL = '/usr/bin/openssl';
const REPO = path.resolve(__dirname, '../../..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ca-test-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const logger = createSilentLogger();
const ID = 'spiffe://cluster.local/ns/default/sa/bookinfo';

function ossl(args: string[]): string {
  return execFileSync(OPENSSL, args, { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
}
function write(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}
let csrN = 0;
function opensslCsr(keyArgs = ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']): string {
  const n = `csr${csrN++}`;
  ossl(['genpkey', ...keyArgs, '-out', `${n}.key`]);
  // The CSR asks for another identity: the CA must ignore CSR SANs.
  ossl([
    'req',
    '-new',
    '-key',
    `${n}.key`,
    '-subj',
    '/',
    '-addext',
    'subjectAltName=critical,URI:spiffe://evil/ns/x/sa/y',
    '-out',
    `${n}.csr`,
  ]);
  return fs.readFileSync(path.join(dir, `${n}.csr`), 'utf8');
}
/** openssl verify with the last element as CA file and the middle ones as untrusted intermediates. */
function verifyChain(chain: string[]): string {
  const leaf = write('leaf.pem', chain[0]!);
  const root = write('root.pem', chain[chain.length - 1]!);
  const args = ['verify', '-CAfile', root];
  if (chain.length > 2) args.push('-untrusted', write('inter.pem', chain.slice(1, -1).join('')));
  return ossl([...args, leaf]);
}
function certText(pem: string): string {
  return ossl(['x509', '-in', write('show.pem', pem), '-noout', '-text']);
}
function opensslDate(pem: string, which: 'startdate' | 'enddate'): number {
  const out = ossl(['x509', '-in', write('d.pem', pem), '-noout', `-${which}`]);
  return Date.parse(out.split('=')[1]!.trim());
}
async function codeOf(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

t.test('self-signed root: persisted 0600, reused on restart, leaf verifies with openssl', async (t) => {
  const stateDir = path.join(dir, 'state');
  const a = Authority.open({ stateDir, trustDomain: 'cluster.local', logger });
  const keyFile = path.join(stateDir, 'ca', 'root-key.pem');
  t.equal(fs.statSync(keyFile).mode & 0o777, 0o600, 'root key is 0600');
  const again = Authority.open({ stateDir, trustDomain: 'cluster.local', logger });
  t.equal(again.info().roots[0]!.fingerprint256, a.info().roots[0]!.fingerprint256, 'restart keeps the same root');
  t.equal(a.info().signingKey, 'RSA-2048', 'RSA-2048 by default');
  const rootText = certText(a.rootBundlePem());
  t.match(rootText, /CA:TRUE/);
  const days = (a.info().roots[0]!.notAfter - Date.now()) / 86400e3;
  t.ok(days > 3640 && days < 3660, `root lives ~10 years (${days.toFixed(0)} days)`);

  const before = Date.now();
  const res = await a.sign({ csrPem: opensslCsr(), identity: ID, ttlSeconds: 3600 });
  t.equal(res.certChain.length, 2, 'self-signed chain is [leaf, root]');
  for (const pem of res.certChain) {
    t.ok(pem.endsWith('\n'), 'newline-terminated');
    t.equal(pem.match(/BEGIN CERTIFICATE/g)!.length, 1, 'one certificate per element');
  }
  t.match(verifyChain(res.certChain), /leaf.pem: OK/);
  const text = certText(res.certChain[0]!);
  t.match(text, /Subject: *\n/, 'empty subject');
  t.match(
    text,
    /X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/bookinfo\s*\n/,
    'one critical URI SAN from the identity, not the CSR',
  );
  t.notMatch(text, /evil/);
  t.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
  t.match(text, /Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
  t.match(text, /Basic Constraints: critical\s+CA:FALSE/);
  t.match(text, /Authority Key Identifier/);
  t.match(text, /Subject Key Identifier/);
  const serial = text.match(/Serial Number:\s*\n\s*([0-9a-f:]+)/)![1]!.replace(/:/g, '');
  t.equal(serial.length, 32, '128-bit serial');
  t.ok(parseInt(serial[0]!, 16) < 8, 'serial positive');
  const nb = opensslDate(res.certChain[0]!, 'startdate');
  t.ok(Math.abs(before - 120_000 - nb) < 5_000, 'NotBefore backdated 2 minutes');
  const na = opensslDate(res.certChain[0]!, 'enddate');
  t.ok(Math.abs(before + 3600_000 - na) < 5_000, 'NotAfter = now + ttl');
  t.equal(a.info().issuedTotal, 1);
  t.notMatch(JSON.stringify(a.info()), /PRIVATE/, 'info() has no key material');
});

t.test('TTL rules and RSA CSRs', async (t) => {
  const a = Authority.open({
    stateDir: path.join(dir, 'state-ec'),
    trustDomain: 'td.example',
    selfSignedKeyAlgorithm: 'ec-p256',
    maxTtlSeconds: 7 * 86400,
    logger,
  });
  t.equal(a.info().signingKey, 'ECDSA-P256');
  const now = Date.now();
  const dflt = await a.sign({ csrPem: opensslCsr(), identity: 'spiffe://td.example/ns/a/sa/b', ttlSeconds: 0 });
  t.ok(Math.abs(opensslDate(dflt.certChain[0]!, 'enddate') - (now + 86400e3)) < 5_000, 'ttl 0 → 24 h');
  t.match(verifyChain(dflt.certChain), /OK/);
  t.equal(
    await codeOf(() =>
      a.sign({ csrPem: opensslCsr(), identity: 'spiffe://td.example/ns/a/sa/b', ttlSeconds: 8 * 86400 }),
    ),
    'ca.ttl_too_long',
  );
  const rsa = await a.sign({
    csrPem: opensslCsr(['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']),
    identity: 'spiffe://td.example/ns/a/sa/b',
    ttlSeconds: 60,
  });
  t.match(verifyChain(rsa.certChain), /OK/, 'RSA CSR signed');
  t.equal(
    await codeOf(() => a.sign({ csrPem: 'nope', identity: 'spiffe://td.example/ns/a/sa/b', ttlSeconds: 60 })),
    'x509.csr_not_pem',
  );
  t.equal(
    await codeOf(() => a.sign({ csrPem: opensslCsr(), identity: 'not-spiffe', ttlSeconds: 60 })),
    'x509.bad_spiffe_id',
  );
});

t.test('signatures in progress are bounded: beyond the cap a request is refused with ca.busy', async (t) => {
  const stateDir = path.join(dir, 'busy');
  const a = Authority.open({ stateDir, trustDomain: 'cluster.local', logger, maxPendingSignatures: 2 });
  const csr = opensslCsr();
  // sign() counts a request before its first await, so the third call sees two in progress.
  const first = [
    a.sign({ csrPem: csr, identity: ID, ttlSeconds: 60 }),
    a.sign({ csrPem: csr, identity: ID, ttlSeconds: 60 }),
  ];
  const third = a.sign({ csrPem: csr, identity: ID, ttlSeconds: 60 });
  await t.rejects(third, { code: 'ca.busy', grpcCode: 8 }, 'the third is refused with RESOURCE_EXHAUSTED');
  for (const r of await Promise.all(first))
    t.match(verifyChain(r.certChain), /leaf.pem: OK/, 'the first two are issued');
  const after = await a.sign({ csrPem: csr, identity: ID, ttlSeconds: 60 });
  t.match(verifyChain(after.certChain), /leaf.pem: OK/, 'a request after they finished is served');
  // A refused CSR frees its place too.
  await t.rejects(a.sign({ csrPem: 'nope', identity: ID, ttlSeconds: 60 }), { code: 'x509.csr_not_pem' });
  await t.rejects(a.sign({ csrPem: 'nope', identity: ID, ttlSeconds: 60 }), { code: 'x509.csr_not_pem' });
  t.ok(await a.sign({ csrPem: csr, identity: ID, ttlSeconds: 60 }), 'places are released after failures');
  t.equal(a.info().issuedTotal, 4, 'four certificates issued');
});

t.test('overlapping requests are checked and signed on the signing threads, refusals included', async (t) => {
  for (const signingThreads of [2, 0]) {
    const stateDir = path.join(dir, `threads-${signingThreads}`);
    const a = Authority.open({ stateDir, trustDomain: 'cluster.local', logger, signingThreads });
    t.teardown(() => a.close());
    const good = opensslCsr();
    const der = Buffer.from(good.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 1]! ^= 0x01; // inside the signature
    const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    // Started together, so each sees the others in progress (Authority.sign): the threads' path unless 0.
    const rsa = opensslCsr(['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']);
    const [p256Res, badRes, rsaRes] = [good, bad, rsa].map((csrPem) =>
      a.sign({ csrPem, identity: ID, ttlSeconds: 600 }),
    );
    badRes!.catch(() => undefined); // checked below, after the others: not an unhandled rejection meanwhile
    for (const [r, what] of [
      [p256Res!, 'P-256 CSR'],
      [rsaRes!, 'RSA CSR'],
    ] as const) {
      t.match(verifyChain((await r).certChain), /leaf.pem: OK/, `${signingThreads} threads: ${what} issued, verifies`);
    }
    await t.rejects(badRes!, { code: 'x509.csr_bad_signature', grpcCode: 3 }, 'tampered refused');
    t.equal(a.info().issuedTotal, 2, 'only the two good ones counted');
  }
});

t.test('plug-in CA from make -C certs: root → intermediate → leaf, clamp, multi-root bundle', async (t) => {
  const pki = path.join(dir, 'pki');
  // RSA-4096 is the default (checked on the recipe below without paying for the keygen);
  // the real run uses 2048-bit keys so the suite stays fast on a shared 2-core machine.
  const dry = execFileSync('make', ['-n', '-C', path.join(REPO, 'certs'), `OUT=${pki}-dry`, 'c1-cacerts'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  }).toString();
  t.match(dry, new RegExp(`genrsa -out ${pki}-dry/root-key.pem 4096`), 'root defaults to RSA 4096');
  t.match(dry, new RegExp(`genrsa -out ${pki}-dry/c1/ca-key.pem 4096`), 'intermediate defaults to RSA 4096');
  const small = ['ROOTCA_KEYSZ=2048', 'INTERMEDIATE_KEYSZ=2048'];
  execFileSync('make', ['-s', '-C', path.join(REPO, 'certs'), `OUT=${pki}`, ...small, 'root-ca', 'c1-cacerts'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const plug = path.join(pki, 'c1');
  for (const f of ['ca-cert.pem', 'ca-key.pem', 'root-cert.pem', 'cert-chain.pem'])
    t.ok(fs.existsSync(path.join(plug, f)), f);
  t.match(ossl(['x509', '-in', path.join(plug, 'ca-cert.pem'), '-noout', '-text']), /CA:TRUE, pathlen:0/);

  const a = Authority.open({
    stateDir: path.join(dir, 'unused'),
    pluginDir: plug,
    trustDomain: 'cluster.local',
    logger,
  });
  t.equal(a.info().mode, 'plugin');
  t.equal(fs.existsSync(path.join(dir, 'unused', 'ca')), false, 'no self-signed root when plugged');
  const res = await a.sign({ csrPem: opensslCsr(), identity: ID, ttlSeconds: 3600 });
  t.equal(res.certChain.length, 3, '[leaf, intermediate, root]');
  t.equal(res.certChain[1], fs.readFileSync(path.join(plug, 'ca-cert.pem'), 'utf8'));
  t.match(verifyChain(res.certChain), /leaf.pem: OK/);

  // Clamp: a 1-day intermediate cannot issue a 7-day leaf beyond its own expiry.
  execFileSync(
    'make',
    ['-s', '-C', path.join(REPO, 'certs'), `OUT=${pki}`, ...small, 'INTERMEDIATE_DAYS=1', 'short-cacerts'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const short = Authority.open({
    stateDir: path.join(dir, 'unused'),
    pluginDir: path.join(pki, 'short'),
    trustDomain: 'cluster.local',
    logger,
  });
  const clamped = await short.sign({ csrPem: opensslCsr(), identity: ID, ttlSeconds: 7 * 86400 });
  t.equal(
    opensslDate(clamped.certChain[0]!, 'enddate'),
    opensslDate(fs.readFileSync(path.join(pki, 'short', 'ca-cert.pem'), 'utf8'), 'enddate'),
    'NotAfter clamped to the signing cert',
  );
  t.match(verifyChain(clamped.certChain), /OK/);

  // Root rotation: the bundle holds two roots; both come back in the last element.
  const rot = path.join(dir, 'rotating');
  fs.mkdirSync(rot);
  for (const f of ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem'])
    fs.copyFileSync(path.join(plug, f), path.join(rot, f));
  ossl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'new-root.key',
    '-subj',
    '/O=New Root',
    '-days',
    '10',
    '-out',
    'new-root.pem',
  ]);
  fs.writeFileSync(
    path.join(rot, 'root-cert.pem'),
    fs.readFileSync(path.join(dir, 'new-root.pem'), 'utf8') + fs.readFileSync(path.join(plug, 'root-cert.pem'), 'utf8'),
  );
  const r = Authority.open({
    stateDir: path.join(dir, 'unused'),
    pluginDir: rot,
    trustDomain: 'cluster.local',
    logger,
  });
  t.equal(r.info().roots.length, 2);
  const rc = await r.sign({ csrPem: opensslCsr(), identity: ID, ttlSeconds: 60 });
  t.equal(rc.certChain.length, 3);
  t.equal(rc.certChain[2]!.match(/BEGIN CERTIFICATE/g)!.length, 2, 'root bundle keeps every root');
  t.match(verifyChain(rc.certChain), /OK/);

  // A key that does not match the cert is refused at load.
  const bad = path.join(dir, 'badplug');
  fs.mkdirSync(bad);
  for (const f of ['ca-cert.pem', 'root-cert.pem', 'cert-chain.pem'])
    fs.copyFileSync(path.join(plug, f), path.join(bad, f));
  fs.copyFileSync(path.join(pki, 'short', 'ca-key.pem'), path.join(bad, 'ca-key.pem'));
  t.equal(
    await codeOf(() => Authority.open({ stateDir: dir, pluginDir: bad, trustDomain: 'cluster.local', logger })),
    'ca.plugin_invalid',
  );
  // A chain that does not reach the bundle is refused.
  fs.copyFileSync(path.join(plug, 'ca-key.pem'), path.join(bad, 'ca-key.pem'));
  fs.copyFileSync(path.join(dir, 'new-root.pem'), path.join(bad, 'root-cert.pem'));
  fs.rmSync(path.join(bad, 'cert-chain.pem'));
  t.equal(
    await codeOf(() => Authority.open({ stateDir: dir, pluginDir: bad, trustDomain: 'cluster.local', logger })),
    'ca.plugin_invalid',
  );
});

t.test('serving certificate and its renewal', async (t) => {
  const a = Authority.open({ stateDir: path.join(dir, 'state'), trustDomain: 'cluster.local', logger });
  const sid = new ServingIdentity({
    authority: a,
    request: { dnsNames: ['ambientd.local'], ipAddresses: ['127.0.0.1', '::1'] },
    logger,
  });
  t.teardown(() => sid.close());
  await sid.start();
  const first = sid.current();
  t.match(first.keyPem, /BEGIN PRIVATE KEY/, 'PKCS#8 key');
  const text = certText(first.certChainPem);
  t.match(text, /DNS:istiod\.istio-system\.svc/);
  t.match(text, /DNS:ambientd\.local/);
  t.match(text, /IP Address:127\.0\.0\.1/);
  t.match(text, /IP Address:0:0:0:0:0:0:0:1/);
  t.match(text, /URI:spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/istiod/);
  t.match(verifyChain([first.certChainPem, first.rootBundlePem]), /OK/);
  const life = first.notAfter - first.notBefore;
  const at = sid.renewAt()!;
  t.ok(
    at >= first.notBefore + 0.5 * life - 1000 && at <= first.notBefore + 0.8 * life + 1000,
    'renewal scheduled at 50–80 % of lifetime',
  );
  const rotated = new Promise((resolve) => sid.once('rotated', resolve));
  sid.rotate();
  const second = (await rotated) as typeof first;
  t.not(second.keyPem, first.keyPem, 'new key');
  t.equal(sid.current(), second);
  t.notMatch(JSON.stringify(a.info()), /PRIVATE/);
});

t.test('concurrent first starts agree on one self-signed root', async (t) => {
  const stateDir = path.join(dir, 'race');
  const script = `
    const { Authority } = require(${JSON.stringify(path.join(__dirname, 'index.js'))});
    const { createSilentLogger } = require(${JSON.stringify(path.join(__dirname, '../log/index.js'))});
    const a = Authority.open({ stateDir: ${JSON.stringify(stateDir)}, trustDomain: 'cluster.local',
      selfSignedKeyAlgorithm: 'ec-p256', logger: createSilentLogger() });
    process.stdout.write(a.info().roots[0].fingerprint256);`;
  const { spawn } = await import('node:child_process');
  const runs = await Promise.all(
    [0, 1, 2].map(
      () =>
        new Promise<string>((resolve, reject) => {
          const c = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          c.stdout.on('data', (d: Buffer) => (out += d.toString()));
          c.stderr.on('data', (d: Buffer) => (err += d.toString()));
          c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(err))));
        }),
    ),
  );
  t.equal(new Set(runs).size, 1, 'all three processes use the same root');
  t.equal(fs.readdirSync(stateDir).filter((f) => f.startsWith('.ca-')).length, 0, 'no temp dirs left behind');
  t.equal(Authority.open({ stateDir, trustDomain: 'cluster.local', logger }).info().roots[0]!.fingerprint256, runs[0]);
});

t.test('a new CA key gets a new leaf template: certificates chain to the new CA only', async (t) => {
  // CA rotation replaces the Authority (key material is immutable per instance); its pre-encoded leaf
  // template (issuer, AKI, signature algorithm) must come from the new key, not from the one before it.
  const stateDir = path.join(dir, 'rotation');
  const before = Authority.open({ stateDir, trustDomain: 'cluster.local', selfSignedKeyAlgorithm: 'rsa-2048', logger });
  const old = await before.sign({ csrPem: opensslCsr(), identity: ID, ttlSeconds: 3600 });
  t.match(verifyChain(old.certChain), /OK/, 'issued under the first CA');
  fs.rmSync(path.join(stateDir, 'ca'), { recursive: true, force: true });
  const after = Authority.open({ stateDir, trustDomain: 'cluster.local', selfSignedKeyAlgorithm: 'ec-p256', logger });
  t.not(after.rootBundlePem(), before.rootBundlePem(), 'a different root');
  const fresh = await after.sign({ csrPem: opensslCsr(), identity: ID, ttlSeconds: 3600 });
  t.match(verifyChain(fresh.certChain), /leaf.pem: OK/, 'issued after rotation chains to the new CA');
  t.match(certText(fresh.certChain[0]!), /Signature Algorithm: ecdsa-with-SHA256/, "signed with the new CA's key");
  t.throws(() => verifyChain([fresh.certChain[0]!, before.rootBundlePem()]), 'does not chain to the old CA');
  t.match(verifyChain(old.certChain), /OK/, 'the earlier certificate still chains to its own CA');
});
