import t from 'tap';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as x509 from './index';
import type { KeyAlgorithm, Signer } from './index';

const OPENSSL = '/usr/bin/openssl';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leaf-template-test-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

function caOf(alg: KeyAlgorithm) {
  const { privateKey } = x509.generateKeyPair(alg);
  const signer = x509.createSigner(privateKey);
  const issuer = x509.buildName([[x509.NameAttr.O, `ca-${alg}`]]);
  const keyId = crypto.randomBytes(20);
  const extensions = [
    x509.keyUsageExtension([x509.KeyUsageBit.digitalSignature, x509.KeyUsageBit.keyEncipherment]),
    x509.extKeyUsageExtension([x509.OID.serverAuth, x509.OID.clientAuth]),
    x509.basicConstraintsExtension(false),
    x509.authorityKeyIdExtension(keyId),
  ];
  return { privateKey, signer, issuer, extensions };
}

/** The same leaf through x509.buildCertificate(), the general encoder the template must match byte for byte. */
function reference(
  ca: ReturnType<typeof caOf>,
  signer: Signer,
  f: { serial: Buffer; notBefore: number; notAfter: number; spki: Buffer; san: Buffer },
): Buffer {
  return x509.buildCertificate({
    serial: f.serial,
    issuer: ca.issuer,
    subject: x509.emptyName(),
    notBefore: f.notBefore,
    notAfter: f.notAfter,
    spki: f.spki,
    signer,
    extensions: [f.san, ...ca.extensions, x509.subjectKeyIdExtension(x509.keyIdFromSpki(f.spki))],
  });
}

t.test('a template leaf is byte for byte what x509.buildCertificate writes', async (t) => {
  // RSA PKCS#1 v1.5 signatures are deterministic, so even the signed certificates must be equal.
  const ca = caOf('rsa-2048');
  const template = new x509.LeafTemplate({ issuer: ca.issuer, signer: ca.signer, extensions: ca.extensions });
  const leafKey = x509.generateKeyPair('ec-p256').publicKey.export({ type: 'spki', format: 'der' });
  const rsaLeafKey = x509.generateKeyPair('rsa-2048').publicKey.export({ type: 'spki', format: 'der' });
  const now = Date.parse('2026-12-06T12:00:00Z');
  const cases = [
    // A serial with the top bit set needs the INTEGER's leading 0x00; leading zero bytes are dropped.
    { serial: Buffer.from('ff'.repeat(16), 'hex'), spki: leafKey, notAfter: now + 86_400_000 },
    { serial: Buffer.from('0000' + '7f'.repeat(14), 'hex'), spki: rsaLeafKey, notAfter: now + 3_600_000 },
    // GeneralizedTime from 2050 on (RFC 5280 §4.1.2.5) changes the validity's length.
    { serial: Buffer.from('40' + '01'.repeat(15), 'hex'), spki: leafKey, notAfter: Date.parse('2051-01-01T00:00:00Z') },
  ];
  for (const c of cases) {
    const san = x509.subjectAltNameExtension(
      { uris: ['spiffe://cluster.local/ns/default/sa/' + 'x'.repeat(200)], dnsNames: ['a.example'] },
      true,
    );
    const f = { serial: c.serial, notBefore: now - 120_000, notAfter: c.notAfter, spki: c.spki, san };
    t.ok(template.build(f).equals(reference(ca, ca.signer, f)), `equal for serial ${c.serial.toString('hex')}`);
    // A signature made elsewhere (what the CA's signing workers return) gives the same bytes.
    const tbs = template.tbs(f);
    t.ok(
      template.certificate(tbs, ca.signer.sign(tbs)).equals(reference(ca, ca.signer, f)),
      `tbs + certificate equal too`,
    );
  }
});

t.test('template leaves verify with openssl under RSA and P-256 CA keys', async (t) => {
  for (const alg of ['rsa-2048', 'ec-p256'] as const) {
    const ca = caOf(alg);
    // A self-signed CA certificate with the same subject, so openssl can check the leaf's signature.
    const caSpki = crypto.createPublicKey(ca.privateKey).export({ type: 'spki', format: 'der' });
    const root = x509.buildCertificate({
      issuer: ca.issuer,
      subject: ca.issuer,
      notBefore: Date.now() - 60_000,
      notAfter: Date.now() + 3_600_000,
      spki: caSpki,
      signer: ca.signer,
      extensions: [
        x509.basicConstraintsExtension(true),
        x509.keyUsageExtension([x509.KeyUsageBit.keyCertSign, x509.KeyUsageBit.cRLSign]),
        x509.subjectKeyIdExtension(x509.keyIdFromSpki(caSpki)),
      ],
    });
    const template = new x509.LeafTemplate({ issuer: ca.issuer, signer: ca.signer, extensions: [] });
    const fields = () => ({
      serial: crypto.randomBytes(16),
      notBefore: Date.now() - 60_000,
      notAfter: Date.now() + 600_000,
      spki: x509.generateKeyPair('ec-p256').publicKey.export({ type: 'spki', format: 'der' }),
      san: x509.subjectAltNameExtension({ uris: ['spiffe://cluster.local/ns/a/sa/b'] }, true),
    });
    fs.writeFileSync(path.join(dir, `root-${alg}.pem`), x509.certificateToPem(root));
    // ECDSA signatures are randomised, so the one made outside the template is checked by openssl on its own.
    const tbs = template.tbs(fields());
    const leaves = { sync: template.build(fields()), async: template.certificate(tbs, ca.signer.sign(tbs)) };
    for (const [how, leaf] of Object.entries(leaves)) {
      fs.writeFileSync(path.join(dir, `leaf-${alg}-${how}.pem`), x509.certificateToPem(leaf));
      const args = ['verify', '-CAfile', `root-${alg}.pem`, `leaf-${alg}-${how}.pem`];
      t.match(execFileSync(OPENSSL, args, { cwd: dir }).toString(), /: OK/, `${alg} CA, ${how} signature`);
    }
  }
});
