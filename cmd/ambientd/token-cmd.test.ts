import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { BootstrapIssuer, TokenAuthenticator } from '../../pkg/auth';
import { parseTtlSeconds, tokenCreateCommand } from './token-cmd';

function collect(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString() };
}

t.test('token create prints a token the daemon’s verifier accepts', async (t) => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'token-cmd-'));
  t.teardown(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const out = collect();
  const err = collect();
  const rc = await tokenCreateCommand(
    { stateDir, namespace: 'vm', serviceAccount: 'db', node: 'vm-1', ttl: '1h' },
    out.stream,
    err.stream,
  );
  t.equal(rc, 0);
  const line = out.text();
  t.match(line, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'one JWT on one line');
  // The daemon side: same state dir, same issuer.
  const issuer = BootstrapIssuer.open({ stateDir, trustDomain: 'cluster.local' });
  const auth = new TokenAuthenticator({ issuers: [issuer.trustedIssuer()], trustDomain: 'cluster.local' });
  const id = await auth.authenticate({ metadata: { authorization: [`Bearer ${line.trim()}`] } });
  t.equal(id.spiffeId, 'spiffe://cluster.local/ns/vm/sa/db');
  t.equal(id.nodeName, 'vm-1');
  const payload = JSON.parse(Buffer.from(line.split('.')[1]!, 'base64url').toString());
  t.equal(payload.exp - payload.iat, 3600, '--ttl 1h');

  const bad = collect();
  t.equal(
    await tokenCreateCommand(
      { stateDir, namespace: 'vm', serviceAccount: 'db', ttl: 'forever' },
      collect().stream,
      bad.stream,
    ),
    2,
  );
  t.match(bad.text(), /invalid --ttl/);
  t.equal(parseTtlSeconds('30m'), 1800);
  t.equal(parseTtlSeconds('7d'), 604800);
  t.equal(parseTtlSeconds(90), 90);
});
