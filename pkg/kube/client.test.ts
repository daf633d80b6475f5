import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { stringify } from 'yaml';
import { KubeApiError, KubeClient, lineStream } from './client';
import { inClusterConfig, kubeconfigFromObject, loadKubeconfig } from './config';
import { mergeConditions } from './gateway-status';

function pki(dir: string): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=test-ca']);
  for (const [name, subj, ext] of [
    ['server', '/CN=server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'],
    ['client', '/O=system:masters/CN=alice', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
    run(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj]);
    run([
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-out',
      `${name}.crt`,
      '-extfile',
      `${name}.ext`,
    ]);
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-client-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
pki(dir);
const read = (f: string) => fs.readFileSync(path.join(dir, f));

t.test('kubeconfig: context selection, data vs file (relative to the kubeconfig), token, exec refused', async (t) => {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'a',
    clusters: [
      {
        name: 'ca',
        cluster: { server: 'https://127.0.0.1:6443/', 'certificate-authority-data': read('ca.crt').toString('base64') },
      },
      {
        name: 'cb',
        cluster: {
          server: 'https://127.0.0.1:7443',
          'certificate-authority': 'ca.crt',
          'tls-server-name': 'kubernetes',
        },
      },
    ],
    users: [
      { name: 'ua', user: { 'client-certificate': 'client.crt', 'client-key': 'client.key' } },
      { name: 'ub', user: { token: 'tok-b' } },
      { name: 'ux', user: { exec: { command: 'aws' } } },
    ],
    contexts: [
      { name: 'a', context: { cluster: 'ca', user: 'ua' } },
      { name: 'b', context: { cluster: 'cb', user: 'ub' } },
      { name: 'x', context: { cluster: 'ca', user: 'ux' } },
    ],
  };
  const file = path.join(dir, 'kubeconfig');
  fs.writeFileSync(file, stringify(doc));
  const a = loadKubeconfig(file);
  t.equal(a.server, 'https://127.0.0.1:6443', 'trailing slash dropped');
  t.same(a.ca, read('ca.crt'));
  t.same(a.cert, read('client.crt'), 'relative cert path resolved against the kubeconfig folder');
  t.same(a.key, read('client.key'));
  const b = loadKubeconfig(file, 'b');
  t.equal(b.token, 'tok-b');
  t.equal(b.tlsServerName, 'kubernetes');
  t.same(b.ca, read('ca.crt'));
  t.throws(() => loadKubeconfig(file, 'x'), /exec\/auth-provider plugin/);
  t.throws(() => loadKubeconfig(file, 'nope'), /context "nope" not found/);
  t.throws(() => kubeconfigFromObject({ contexts: [] }, dir), /no context given/);
});

t.test('in-cluster config from a service-account folder', async (t) => {
  const sa = path.join(dir, 'sa');
  fs.mkdirSync(sa);
  fs.writeFileSync(path.join(sa, 'token'), 'tok\n');
  fs.copyFileSync(path.join(dir, 'ca.crt'), path.join(sa, 'ca.crt'));
  const c = inClusterConfig({ host: 'fd00::1', port: 443, serviceAccountDir: sa });
  t.equal(c.server, 'https://[fd00::1]:443', 'IPv6 host bracketed');
  t.equal(c.tokenFile, path.join(sa, 'token'));
  t.throws(() => inClusterConfig({ host: '', port: 443, serviceAccountDir: sa }), /KUBERNETES_SERVICE_HOST/);
  t.throws(
    () => inClusterConfig({ host: '10.0.0.1', port: 443, serviceAccountDir: path.join(dir, 'missing') }),
    /not readable/,
  );
});

t.test('client: mutual TLS, bearer token from a rotating file, Status errors parsed', async (t) => {
  const seen: { auth?: string; cn?: string; accept?: string }[] = [];
  const server = https.createServer(
    {
      key: read('server.key'),
      cert: read('server.crt'),
      ca: read('ca.crt'),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const peer = req.socket instanceof TLSSocket ? req.socket.getPeerCertificate() : undefined;
      seen.push({
        auth: req.headers.authorization,
        cn: String(peer?.subject?.CN ?? '') || undefined,
        accept: req.headers.accept,
      });
      if (req.url === '/deny') {
        res.writeHead(403, { 'content-type': 'application/json' });
        return res.end(
          JSON.stringify({
            kind: 'Status',
            status: 'Failure',
            reason: 'Forbidden',
            code: 403,
            message: 'pods is forbidden: User "x" cannot list resource "pods"',
          }),
        );
      }
      if (req.url === '/busy') {
        res.writeHead(429, { 'retry-after': '3' });
        return res.end('slow down');
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true }));
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const mtls = new KubeClient({
    server: url,
    ca: read('ca.crt'),
    cert: read('client.crt'),
    key: read('client.key'),
    source: 't',
  });
  t.teardown(() => mtls.close());
  t.same(await mtls.json('GET', '/ok'), { ok: true });
  t.equal(seen.at(-1)!.cn, 'alice', 'client certificate presented');
  t.equal(seen.at(-1)!.auth, undefined);

  const tokenFile = path.join(dir, 'tok');
  fs.writeFileSync(tokenFile, 'first\n');
  let now = 0;
  const clock = { now: () => now, monotonic: () => now };
  const tok = new KubeClient({ server: url, ca: read('ca.crt'), tokenFile, source: 't' }, clock);
  t.teardown(() => tok.close());
  await tok.json('GET', '/ok', { accept: 'application/jwk-set+json' });
  t.equal(seen.at(-1)!.auth, 'Bearer first');
  t.equal(seen.at(-1)!.accept, 'application/jwk-set+json');
  fs.writeFileSync(tokenFile, 'second\n');
  await tok.json('GET', '/ok');
  t.equal(seen.at(-1)!.auth, 'Bearer first', 'cached within a minute');
  now += 61_000;
  await tok.json('GET', '/ok');
  t.equal(seen.at(-1)!.auth, 'Bearer second', 'rotated token picked up');

  const denied = await tok.json('GET', '/deny').catch((e: unknown) => e);
  t.ok(denied instanceof KubeApiError);
  t.equal((denied as KubeApiError).httpStatus, 403);
  t.equal((denied as KubeApiError).reason, 'Forbidden');
  t.match((denied as KubeApiError).message, 'cannot list resource "pods"');
  const busy = (await tok.json('GET', '/busy').catch((e: unknown) => e)) as KubeApiError;
  t.equal(busy.retryAfterMs, 3000, 'Retry-After honoured');

  const untrusted = new KubeClient({ server: url, source: 't' });
  t.teardown(() => untrusted.close());
  const e = (await untrusted.json('GET', '/ok').catch((x: unknown) => x)) as KubeApiError;
  t.equal(e.httpStatus, 0, 'unknown CA refused as a transport error');
});

t.test('line stream: lines split across chunks, multi-byte characters across chunks, bound enforced', async (t) => {
  const euro = Buffer.from('€');
  const chunks = [
    Buffer.from('{"a":1}\n{"b":"'),
    euro.subarray(0, 1),
    Buffer.concat([euro.subarray(1), Buffer.from('"}\n\n{"c":')]),
    Buffer.from('3}\n'),
  ];
  const got: string[][] = [];
  for await (const lines of lineStream(Readable.from(chunks), () => {}, 1024).lines()) got.push(lines);
  t.same(got.flat(), ['{"a":1}', '{"b":"€"}', '{"c":3}']);
  const big = lineStream(Readable.from([Buffer.from('x'.repeat(100))]), () => {}, 10);
  await t.rejects(async () => {
    for await (const _ of big.lines()) void _;
  }, /exceeds 10 bytes/);
});

t.test('mergeConditions keeps other types, preserves transition time while status holds', async (t) => {
  const existing = [
    {
      type: 'Accepted',
      status: 'True' as const,
      reason: 'Accepted',
      message: 'ok',
      lastTransitionTime: '2026-01-01T00:00:00Z',
      observedGeneration: 3,
    },
    {
      type: 'Connected',
      status: 'True' as const,
      reason: 'Connected',
      message: 'up',
      lastTransitionTime: '2026-01-02T00:00:00Z',
      observedGeneration: 3,
    },
  ];
  const now = Date.parse('2026-02-01T10:00:00.123Z');
  const merged = mergeConditions(
    existing,
    [
      { type: 'Connected', status: 'True', reason: 'Connected', message: 'still up' },
      { type: 'Synced', status: 'False', reason: 'Pending', message: 'x' },
    ],
    4,
    now,
  );
  t.same(merged[0], existing[0], 'foreign condition untouched');
  t.same(merged[1], {
    type: 'Connected',
    status: 'True',
    reason: 'Connected',
    message: 'still up',
    observedGeneration: 4,
    lastTransitionTime: '2026-01-02T00:00:00Z',
  });
  t.same(merged[2], {
    type: 'Synced',
    status: 'False',
    reason: 'Pending',
    message: 'x',
    observedGeneration: 4,
    lastTransitionTime: '2026-02-01T10:00:00Z',
  });
  const flipped = mergeConditions(
    merged,
    [{ type: 'Connected', status: 'False', reason: 'Pending', message: 'down' }],
    4,
    now,
  );
  t.equal(
    flipped.find((c) => c.type === 'Connected')!.lastTransitionTime,
    '2026-02-01T10:00:00Z',
    'status change moves the transition time',
  );
});
