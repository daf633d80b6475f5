import t from 'tap';
import type { Test } from 'tap';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { MINI_MESH, loopbackFlags, readableInstall, runAmbientd, tempDir, unprivileged } from './proc';

/** The operator-facing contract: exactly one `ambientd: ...` line, no stack frames, exit 1. */
function oneClearLine(t: Test, r: { exit: { code: number | null }; stderr: string }, re: RegExp): void {
  t.equal(r.exit.code, 1, 'exit 1');
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('ambientd:'));
  t.equal(lines.length, 1, `one "ambientd:" line (stderr was: ${JSON.stringify(r.stderr)})`);
  t.match(lines[0] ?? '', re, 'names the cause');
  t.notMatch(r.stderr, /^\s+at .+\(.*:\d+:\d+\)$/m, 'no stack trace');
  t.same(r.stderr.trimEnd().split('\n'), lines, 'nothing else on stderr (library noise included)');
}

function registry(dir: string): string {
  const r = path.join(dir, 'registry');
  fs.mkdirSync(r, { recursive: true });
  fs.writeFileSync(path.join(r, 'mesh.yaml'), MINI_MESH);
  fs.chmodSync(r, 0o755);
  fs.chmodSync(path.join(r, 'mesh.yaml'), 0o644);
  return r;
}

t.test('bad configuration: exit 2, every problem on its own line', async (t) => {
  const dir = tempDir(t);
  const cfg = path.join(dir, 'config.yaml');
  fs.writeFileSync(
    cfg,
    ['log:', '  level: loud', 'xds:', '  listen: bogus', 'drainDeadline: soon', 'notASetting: 1', ''].join('\n'),
  );
  // No --xds-listen flag here: it would override the file's bad value.
  const r = await runAmbientd([
    'serve',
    `--config=${cfg}`,
    `--state-dir=${path.join(dir, 'state')}`,
    '--no-such-flag=1',
  ]);
  t.equal(r.exit.code, 2, 'exit 2');
  const lines = r.stderr.trimEnd().split('\n');
  t.match(lines[0], /^ambientd: invalid configuration \(5 problems\):$/, 'header counts the problems');
  const problems = lines.slice(1).map((l) => l.trim());
  t.equal(problems.length, 5, 'one line per problem');
  for (const [what, re] of [
    ['log level', /^log\.level \(file\): must be one of/],
    ['listen address', /^xds\.listen: "bogus" is not host:port/],
    ['duration', /^drainDeadline \(file\): expected a duration/],
    ['unknown key', /^notASetting \(file\): unknown setting/],
    ['unknown flag', /^--no-such-flag: unknown flag/],
  ] as const)
    t.ok(
      problems.some((p) => re.test(p)),
      `${what} reported: ${re}`,
    );
  t.equal(r.stdout, '', 'nothing logged: the daemon never started');
  t.notOk(fs.existsSync(path.join(dir, 'state')), 'no state directory created');
});

t.test('port already in use: one clear line, exit 1', async (t) => {
  const dir = tempDir(t);
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const r = await runAmbientd([
    'serve',
    ...loopbackFlags(path.join(dir, 'state'), registry(dir)),
    `--xds-listen=127.0.0.1:${port}`,
  ]);
  oneClearLine(t, r, new RegExp(`^ambientd: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
});

t.test('unreadable CA directory: one clear line, exit 1', async (t) => {
  const dir = tempDir(t);
  const who = unprivileged();
  const state = path.join(dir, 'state');
  fs.mkdirSync(state);
  if (who) fs.chownSync(state, who.uid, who.gid);
  const ca = path.join(dir, 'cacerts');
  fs.mkdirSync(ca);
  for (const f of ['ca-cert.pem', 'ca-key.pem', 'root-cert.pem', 'cert-chain.pem'])
    fs.writeFileSync(path.join(ca, f), 'not read\n');
  fs.chmodSync(ca, 0o000);
  t.teardown(() => fs.chmodSync(ca, 0o700));
  const asNobody = who ? { ...who, ...readableInstall() } : {};
  const r = await runAmbientd(['serve', ...loopbackFlags(state, registry(dir)), `--ca-dir=${ca}`], asNobody);
  oneClearLine(t, r, new RegExp(`^ambientd: cannot load CA material from ${ca}: .*EACCES`));
});

t.test('state directory not writable: one clear line, exit 1', async (t) => {
  const dir = tempDir(t);
  const who = unprivileged();
  const parent = path.join(dir, 'readonly');
  fs.mkdirSync(parent, { mode: 0o555 });
  fs.chmodSync(parent, 0o555);
  const state = path.join(parent, 'state');
  const asNobody = who ? { ...who, ...readableInstall() } : {};
  const r = await runAmbientd(['serve', ...loopbackFlags(state, registry(dir))], asNobody);
  oneClearLine(t, r, new RegExp(`^ambientd: state directory ${state} is not writable: EACCES`));

  // A state path under a regular file fails the same way, even for root.
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, '');
  const r2 = await runAmbientd(['serve', ...loopbackFlags(path.join(file, 'state'), registry(dir))]);
  oneClearLine(t, r2, /^ambientd: state directory .* is not writable: ENOTDIR/);
});
