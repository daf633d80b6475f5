import t from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { MtlsAuthenticator, TrustDomainRoots, anchoredIn, parsePemCertificates } from './index';
import type { CallContext } from './index';
import { isDaemonError } from '../errors';

// A PKI per run: two trust domains, each a root with an intermediate, plus
// leaves that are right, crossed (td-b identity under td-a's root and vice
// versa) or signed directly by a root. Certificates reach the authenticator
// the way a TLS server sees them: through a real handshake.

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambientd-mtls-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const f = (n: string): string => path.join(dir, n);
const ossl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const read = (n: string): string => fs.readFileSync(f(n), 'utf8');
let serial = 1;

function root(name: string): void {
  ossl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    f(`${name}.key`),
    '-subj',
    `/O=${name}`,
    '-days',
    '1',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    f(`${name}.pem`),
  );
}
function signed(name: string, issuer: string, ext: string): void {
  ossl(
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    f(`${name}.key`),
    '-subj',
    `/O=${name}`,
    '-out',
    f(`${name}.csr`),
  );
  fs.writeFileSync(f(`${name}.ext`), ext);
  ossl(
    'x509',
    '-req',
    '-in',
    f(`${name}.csr`),
    '-CA',
    f(`${issuer}.pem`),
    '-CAkey',
    f(`${issuer}.key`),
    '-set_serial',
    String(serial++),
    '-days',
    '1',
    '-sha256',
    '-extfile',
    f(`${name}.ext`),
    '-out',
    f(`${name}.pem`),
  );
}
const CA_EXT = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n';
const leafExt = (uri: string): string =>
  'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' +
  `extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=URI:${uri}\n`;
const PEER_B = 'spiffe://td-b/ns/istio-system/sa/istiod';
const APP_A = 'spiffe://td-a/ns/shop/sa/web';

root('root-a');
root('root-b');
signed('int-a', 'root-a', CA_EXT);
signed('int-b', 'root-b', CA_EXT);
signed('b-ok', 'int-b', leafExt(PEER_B)); // td-b peer under td-b's root
signed('b-by-a', 'int-a', leafExt(PEER_B)); // td-b identity under td-a's root
signed('a-by-b', 'int-b', leafExt(APP_A)); // td-a identity under td-b's root
signed('a-ok', 'int-a', leafExt(APP_A));
signed('b-app', 'int-b', leafExt('spiffe://td-b/ns/shop/sa/web')); // td-b, not a peer daemon account
signed('b-direct', 'root-b', leafExt(PEER_B)); // signed by the root itself
const chain = (leaf: string, int?: string): string => read(`${leaf}.pem`) + (int ? read(`${int}.pem`) : '');

interface Seen {
  detailed: tls.DetailedPeerCertificate;
  plain: tls.PeerCertificate;
  authorized: boolean;
}

/** Handshakes with a server trusting `ca` and returns what the server saw of the client certificate. */
async function handshake(ca: string, certPem: string, keyPem: string): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const server = tls.createServer(
      {
        key: read('a-ok.key'),
        cert: chain('a-ok', 'int-a'),
        ca,
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.3',
      },
      (sock) => {
        resolve({
          detailed: sock.getPeerCertificate(true),
          plain: sock.getPeerCertificate(),
          authorized: sock.authorized,
        });
        sock.end();
        server.close();
      },
    );
    server.listen(0, '127.0.0.1', () => {
      const c = tls.connect({
        host: '127.0.0.1',
        port: (server.address() as AddressInfo).port,
        cert: certPem,
        key: keyPem,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.3',
      });
      c.on('data', () => undefined);
      c.on('error', () => undefined);
      c.on('close', () => c.destroy());
    });
    server.on('error', reject);
  });
}

const ctx = (cert: tls.PeerCertificate): CallContext => ({ metadata: {}, peerCertificate: cert });
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    const id = (await p) as { spiffeId: string };
    return `ok ${id.spiffeId}`;
  } catch (e) {
    if (isDaemonError(e)) return e.code;
    throw e;
  }
}

const UNION = read('root-a.pem') + read('root-b.pem');
const twoDomains = (localIssuers?: string): TrustDomainRoots =>
  new TrustDomainRoots({
    localTrustDomain: 'td-a',
    localRoots: () => read('root-a.pem'),
    localIssuers: localIssuers ? () => localIssuers : undefined,
    extra: new Map([['td-b', read('root-b.pem')]]),
  });
const authn = (anchors: TrustDomainRoots): MtlsAuthenticator =>
  new MtlsAuthenticator({ trustDomains: anchors.trustDomains(), anchors, foreignAccounts: ['istio-system/istiod'] });

t.test('TrustDomainRoots: the local trust domain is the mesh bundle; others as configured', async (t) => {
  const r = twoDomains();
  t.same(r.trustDomains(), ['td-a', 'td-b']);
  t.equal(r.rootsFor('td-a'), read('root-a.pem'));
  t.equal(r.rootsFor('td-b'), read('root-b.pem'));
  t.equal(r.rootsFor('td-c'), undefined, 'no roots for an unconfigured trust domain');
  t.equal(parsePemCertificates(r.unionPem()).length, 2, 'TLS verifies against the union');
  t.equal(r.unionFingerprints().size, 2);
  t.throws(
    () =>
      new TrustDomainRoots({
        localTrustDomain: 'td-a',
        localRoots: () => '',
        extra: new Map([['td-a', read('root-b.pem')]]),
      }),
    /always uses the mesh trust bundle/,
  );
  t.throws(
    () => new TrustDomainRoots({ localTrustDomain: 'td-a', localRoots: () => '', extra: new Map([['td-b', 'junk']]) }),
    /no PEM certificate/,
  );
});

t.test('a client certificate must anchor in the roots of the trust domain its own SPIFFE id names', async (t) => {
  const a = authn(twoDomains());
  const bOk = await handshake(UNION, chain('b-ok', 'int-b'), read('b-ok.key'));
  t.ok(bOk.authorized, 'TLS accepts it (union)');
  t.equal(await outcome(a.authenticate(ctx(bOk.detailed))), `ok ${PEER_B}`, 'td-b peer under td-b root: accepted');
  const aOk = await handshake(UNION, chain('a-ok', 'int-a'), read('a-ok.key'));
  t.equal(
    await outcome(a.authenticate(ctx(aOk.detailed))),
    `ok ${APP_A}`,
    'local identity under the local root: accepted',
  );

  const bByA = await handshake(UNION, chain('b-by-a', 'int-a'), read('b-by-a.key'));
  t.ok(bByA.authorized, 'TLS alone would accept it (td-a root is in the union)');
  t.equal(
    await outcome(a.authenticate(ctx(bByA.detailed))),
    'auth.untrusted_anchor',
    'td-a root does not vouch for a td-b identity',
  );
  const aByB = await handshake(UNION, chain('a-by-b', 'int-b'), read('a-by-b.key'));
  t.ok(aByB.authorized);
  t.equal(
    await outcome(a.authenticate(ctx(aByB.detailed))),
    'auth.untrusted_anchor',
    'td-b root does not vouch for a td-a identity',
  );

  const bApp = await handshake(UNION, chain('b-app', 'int-b'), read('b-app.key'));
  t.equal(
    await outcome(a.authenticate(ctx(bApp.detailed))),
    'auth.wrong_trust_domain',
    'only the peer daemon account from a foreign trust domain',
  );

  // Forged links: a td-b identity from td-a's root with td-b's root spliced in as its issuer.
  const forged = {
    ...bByA.detailed,
    issuerCertificate: {
      ...bByA.detailed.issuerCertificate,
      issuerCertificate: bOk.detailed.issuerCertificate.issuerCertificate,
    },
  };
  t.equal(
    await outcome(a.authenticate(ctx(forged))),
    'auth.untrusted_anchor',
    "every link's signature is checked, not just the names",
  );
  t.notOk(anchoredIn(forged, twoDomains().anchorsFor('td-b')!));
});

t.test('without the issuer chain (leaf only): fail closed unless the leaf alone proves it', async (t) => {
  const a = authn(twoDomains());
  const bOk = await handshake(UNION, chain('b-ok', 'int-b'), read('b-ok.key'));
  t.equal(
    await outcome(a.authenticate(ctx(bOk.plain))),
    'auth.untrusted_anchor',
    'an intermediate the server cannot see: refused',
  );
  const bDirect = await handshake(UNION, chain('b-direct'), read('b-direct.key'));
  t.equal(await outcome(a.authenticate(ctx(bDirect.plain))), `ok ${PEER_B}`, 'a leaf signed by a td-b root: accepted');
  const bByA = await handshake(UNION, chain('b-by-a', 'int-a'), read('b-by-a.key'));
  t.equal(await outcome(a.authenticate(ctx(bByA.plain))), 'auth.untrusted_anchor');
  // The local trust domain also counts our own issuing CA certificates as anchors.
  const aOk = await handshake(UNION, chain('a-ok', 'int-a'), read('a-ok.key'));
  t.equal(await outcome(a.authenticate(ctx(aOk.plain))), 'auth.untrusted_anchor', 'without knowing our intermediate');
  t.equal(
    await outcome(authn(twoDomains(chain('a-ok', 'int-a'))).authenticate(ctx(aOk.plain))),
    `ok ${APP_A}`,
    'with our own issuing chain',
  );
});

t.test('one trust domain only: unchanged (TLS verification suffices, no chain needed)', async (t) => {
  const anchors = new TrustDomainRoots({ localTrustDomain: 'td-a', localRoots: () => read('root-a.pem') });
  const a = new MtlsAuthenticator({ trustDomains: anchors.trustDomains(), anchors });
  const aOk = await handshake(read('root-a.pem'), chain('a-ok', 'int-a'), read('a-ok.key'));
  t.ok(aOk.authorized);
  t.equal(await outcome(a.authenticate(ctx(aOk.plain))), `ok ${APP_A}`);
  const bOk = await handshake(read('root-a.pem'), chain('b-ok', 'int-b'), read('b-ok.key'));
  t.notOk(bOk.authorized, 'TLS refuses an unknown root (the transport never passes such a certificate on)');
  t.equal(await outcome(a.authenticate(ctx(bOk.plain))), 'auth.wrong_trust_domain');
  // Without anchors at all (the old constructor shape) the trust-domain list still applies.
  t.equal(await outcome(new MtlsAuthenticator({ trustDomains: ['td-a'] }).authenticate(ctx(aOk.plain))), `ok ${APP_A}`);
});
