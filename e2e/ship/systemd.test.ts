import t from 'tap';
import type { Test } from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, tempDir } from './proc';

const UNIT = path.join(REPO_ROOT, 'deploy/systemd/ambientd.service');
const README = path.join(REPO_ROOT, 'deploy/systemd/README.md');

/** [Service] key → values (a key may repeat). */
function serviceSection(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const m = /^\[(.+)\]$/.exec(line);
    if (m) {
      section = m[1]!;
      continue;
    }
    if (section !== 'Service') continue;
    const eq = line.indexOf('=');
    const k = line.slice(0, eq);
    out.set(k, [...(out.get(k) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

function analyze(args: string[]): { status: number | null; stdout: string; stderr: string } {
  // cwd outside the repo: verify also loads units named like files in cwd.
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8', cwd: '/', timeout: 30_000 });
  if (r.error) throw new Error(`systemd-analyze: ${r.error.message} (make sysdeps installs it)`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * An alternate root holding what verify resolves: the unit, the ExecStart /
 * ExecReload executables at their paths (a stub stands in for the npm
 * install; e2e/ship/package.test.ts runs the real one), and the stock units
 * (sysinit.target, ...) the dependency graph needs.
 */
function verifyRoot(t: Test, unit: Map<string, string[]>): string {
  const root = tempDir(t, 'ambientd-unit-root-');
  fs.mkdirSync(path.join(root, 'etc/systemd/system'), { recursive: true });
  fs.copyFileSync(UNIT, path.join(root, 'etc/systemd/system/ambientd.service'));
  fs.mkdirSync(path.join(root, 'usr/lib/systemd'), { recursive: true });
  fs.cpSync('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), {
    recursive: true,
    verbatimSymlinks: true,
  });
  fs.mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
  fs.symlinkSync('usr/bin', path.join(root, 'bin'));
  for (const k of ['ExecStart', 'ExecReload']) {
    for (const v of unit.get(k) ?? []) {
      const exe = v.replace(/^[-@:+!]+/, '').split(/\s+/)[0]!;
      const dst = path.join(root, exe);
      if (fs.existsSync(dst)) continue;
      fs.mkdirSync(path.dirname(dst), { recursive: true });
      if (fs.existsSync(exe)) fs.copyFileSync(exe, dst);
      else fs.writeFileSync(dst, '#!/bin/sh\n');
      fs.chmodSync(dst, 0o755);
    }
  }
  return root;
}

t.test('systemd-analyze verify accepts the unit with no warnings', async (t) => {
  const unit = serviceSection(fs.readFileSync(UNIT, 'utf8'));
  const root = verifyRoot(t, unit);
  const r = analyze(['verify', `--root=${root}`, 'ambientd.service']);
  t.equal(r.status, 0, 'verify exit 0');
  // verify exits 0 on unknown keys and unparsable values; it only warns.
  t.equal(r.stderr.trim(), '', 'no warnings');
});

t.test('the unit carries the hardening the issue asks for', async (t) => {
  const unit = serviceSection(fs.readFileSync(UNIT, 'utf8'));
  const one = (k: string): string | undefined => unit.get(k)?.at(-1);
  t.ok(one('DynamicUser') === 'yes' || !!one('User'), 'own user (DynamicUser)');
  for (const [k, v] of [
    ['StateDirectory', 'ambientd'],
    ['ConfigurationDirectory', 'ambientd'],
    ['Restart', 'on-failure'],
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'yes'],
    ['PrivateTmp', 'yes'],
    ['NoNewPrivileges', 'yes'],
    ['CapabilityBoundingSet', ''],
    ['MemoryDenyWriteExecute', 'no'],
    ['RestartPreventExitStatus', '2'],
  ] as const)
    t.equal(one(k), v, `${k}=${v}`);
  t.ok(unit.get('SystemCallFilter')?.includes('@system-service'), 'SystemCallFilter=@system-service');
  t.match(one('RestrictAddressFamilies') ?? '', /^AF_INET AF_INET6/, 'RestrictAddressFamilies');
  t.match(
    one('ExecStart') ?? '',
    /^\/opt\/ambientd\/node_modules\/\.bin\/ambientd serve --config=\/etc\/ambientd\/config\.yaml$/,
    'ExecStart is the installed package bin',
  );
});

t.test('the README quotes the current systemd-analyze security exposure score', async (t) => {
  const r = analyze(['security', '--offline=yes', UNIT]);
  const m = /Overall exposure level for ambientd\.service: (\d+\.\d+) (\w+)/.exec(r.stdout);
  t.ok(m, `score printed (${r.stdout.split('\n').at(-2)})`);
  if (!m) return;
  t.ok(Number(m[1]) <= 2, `exposure ${m[1]} ${m[2]} stays in systemd's "OK" band`);
  const readme = fs.readFileSync(README, 'utf8');
  t.match(readme, `exposure level for ambientd.service: ${m[1]} ${m[2]}`, 'README quotes this score');
});

t.test(
  "MemoryDenyWriteExecute stays off: node aborts under the kernel's MDWE policy and runs only --jitless",
  async (t) => {
    // PR_SET_MDWE (Linux >= 6.3) with PR_MDWE_REFUSE_EXEC_GAIN is the policy
    // MemoryDenyWriteExecute= enforces (systemd uses it when the kernel has it,
    // seccomp otherwise, which also refuses mprotect(PROT_EXEC)). python3's
    // ctypes is the only way to call prctl without a compiler here.
    const py = `
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    print("unsupported", ctypes.get_errno()); sys.exit(77)
os.execv(sys.argv[1], sys.argv[1:])
`;
    const run = (nodeArgs: string[]): ReturnType<typeof spawnSync> =>
      spawnSync('python3', ['-c', py, process.execPath, ...nodeArgs], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { PATH: process.env.PATH ?? '' },
      });
    const jit = run(['-e', 'let s = 0; for (let i = 0; i < 1e6; i++) s += i; console.log(s)']);
    if (jit.error || jit.status === 77) {
      t.skip(`cannot apply PR_SET_MDWE here (${jit.error?.message ?? String(jit.stdout).trim()})`, () => undefined);
      return;
    }
    t.not(jit.status, 0, 'node with its JIT does not survive MDWE');
    t.match(String(jit.stderr), /SetPermissions|Fatal/, 'V8 fails changing page permissions');
    const jitless = run(['--jitless', '-e', 'console.log("ok")']);
    t.equal(jitless.status, 0, '--jitless runs under MDWE');
  },
);
