import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * A throwaway PKI made with openssl (an implementation independent of ours):
 * a root, and leaves signed by it. Files live in a fresh temp dir per call.
 */
export interface TestPki {
  dir: string;
  rootCertPem: string;
  rootCertFile: string;
  rootKeyFile: string;
  /** Issues a leaf with the given SANs (e.g. ['DNS:localhost','IP:127.0.0.1','URI:spiffe://…']). */
  leaf(
    name: string,
    sans: string[],
    opts?: { ca?: boolean },
  ): { certPem: string; keyPem: string; certFile: string; keyFile: string };
  cleanup(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function createTestPki(opts: { prefix?: string; rootCn?: string } = {}): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), opts.prefix ?? 'ambientd-pki-'));
  const rootKeyFile = path.join(dir, 'root-key.pem');
  const rootCertFile = path.join(dir, 'root-cert.pem');
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', rootKeyFile], dir);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      rootKeyFile,
      '-sha256',
      '-days',
      '2',
      '-subj',
      `/O=ambientd-test/CN=${opts.rootCn ?? 'Test Root'}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      rootCertFile,
    ],
    dir,
  );
  let serial = 1;
  return {
    dir,
    rootCertFile,
    rootKeyFile,
    rootCertPem: fs.readFileSync(rootCertFile, 'utf8'),
    leaf(name, sans, lopts = {}) {
      const keyFile = path.join(dir, `${name}-key.pem`);
      const csrFile = path.join(dir, `${name}.csr`);
      const certFile = path.join(dir, `${name}-cert.pem`);
      const extFile = path.join(dir, `${name}.ext`);
      openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile], dir);
      openssl(['req', '-new', '-key', keyFile, '-subj', `/O=ambientd-test`, '-out', csrFile], dir);
      const ext = [
        lopts.ca ? 'basicConstraints=critical,CA:TRUE' : 'basicConstraints=critical,CA:FALSE',
        lopts.ca ? 'keyUsage=critical,keyCertSign' : 'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth,clientAuth',
      ];
      if (sans.length) ext.push(`subjectAltName=${sans.join(',')}`);
      fs.writeFileSync(extFile, ext.join('\n') + '\n');
      openssl(
        [
          'x509',
          '-req',
          '-in',
          csrFile,
          '-CA',
          rootCertFile,
          '-CAkey',
          rootKeyFile,
          '-set_serial',
          String(1000 + serial++),
          '-days',
          '1',
          '-sha256',
          '-extfile',
          extFile,
          '-out',
          certFile,
        ],
        dir,
      );
      return {
        certPem: fs.readFileSync(certFile, 'utf8'),
        keyPem: fs.readFileSync(keyFile, 'utf8'),
        certFile,
        keyFile,
      };
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
