import t from 'tap';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { shebangNodeFlags } from '../../cmd/ambientd/node-flags';
import {
  MAIN_JS,
  MINI_MESH,
  REPO_ROOT,
  cleanEnv,
  nodeOptionsOf,
  runAmbientd,
  spawnAmbientd,
  tempDir,
  unprivileged,
} from './proc';

/**
 * One `npm pack` of the working tree and one `npm install --prefix` of the
 * tarball (the VM / npx way; dependencies from the npm registry or npm's
 * cache), reused for the container image's /app layout.
 */
const exec = promisify(execFile);
const NPM_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
};
delete NPM_ENV.NODE_OPTIONS; // tap's hooks have no business inside npm

const work = tempDir(t, 'ambientd-pack-');
let tarball = '';
let packedFiles: string[] = [];
let prefix = '';
let imageRoot = '';

t.before(async () => {
  const started = Date.now();
  const { stdout } = await exec('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], {
    cwd: REPO_ROOT,
    env: NPM_ENV,
    maxBuffer: 16 << 20,
  });
  const info = (JSON.parse(stdout) as { filename: string; files: { path: string }[] }[])[0]!;
  tarball = path.join(work, info.filename);
  packedFiles = info.files.map((f) => f.path).sort();
  prefix = path.join(work, 'prefix');
  imageRoot = path.join(work, 'image');
  const app = path.join(imageRoot, 'app');
  fs.mkdirSync(app, { recursive: true });
  // The Dockerfile's build stage: the packed files (+ lockfile) become /app.
  await exec('tar', ['-xzf', tarball, '-C', app, '--strip-components=1']);
  fs.copyFileSync(path.join(REPO_ROOT, 'package-lock.json'), path.join(app, 'package-lock.json'));
  await exec('npm', ['install', '--prefix', prefix, '--omit=dev', '--prefer-offline', tarball], {
    cwd: work,
    env: NPM_ENV,
    maxBuffer: 16 << 20,
  });
  // The image runs `npm ci --omit=dev` against the same lockfile; to keep the
  // suite fast the production tree installed above is reused (hard links)
  // instead of a second install. The package itself is /app, not a dependency.
  await exec('cp', ['-al', path.join(prefix, 'node_modules'), path.join(app, 'node_modules')]);
  fs.rmSync(path.join(app, 'node_modules/ambientd'), { recursive: true });
  fs.rmSync(path.join(app, 'node_modules/.bin/ambientd'), { force: true });
  t.comment(`npm pack + installs took ${Math.round((Date.now() - started) / 1000)} s`);
});

t.test(
  'npm pack holds the compiled JS, protos, README and LICENSE — and no tests, state, keys, e2e or bench',
  async (t) => {
    const has = (f: string): boolean => packedFiles.includes(f);
    for (const f of [
      'package.json',
      'LICENSE',
      'README.md',
      'dist/cmd/ambientd/main.js',
      'dist/pkg/daemon/index.js',
      'dist/pkg/wire/index.js',
    ])
      t.ok(has(f), `contains ${f}`);
    const protos = walk(path.join(REPO_ROOT, 'proto'))
      .filter((f) => f.endsWith('.proto'))
      .map((f) => path.relative(REPO_ROOT, f));
    t.ok(protos.length > 0, 'the repository has protos');
    t.same(
      protos.filter((p) => !has(p)),
      [],
      'every .proto under proto/ is packed',
    );
    const forbidden: [string, RegExp][] = [
      ['tests', /\.test\.js$|(^|\/)testing\//],
      ['e2e, bench or tools', /^(dist\/)?(e2e|bench|tools)\//],
      ['TypeScript sources', /\.ts$/],
      ['state directories', /(^|\/)\.state(\/|$)/],
      ['key or certificate files', /\.(pem|key|crt|p12)$/],
      ['dev PKI', /^certs\//],
      ['node_modules', /(^|\/)node_modules\//],
    ];
    for (const [what, re] of forbidden)
      t.same(
        packedFiles.filter((f) => re.test(f)),
        [],
        `no ${what}`,
      );
    const app = path.join(imageRoot, 'app');
    const keyLike = packedFiles.filter((f) => /PRIVATE KEY-----/.test(fs.readFileSync(path.join(app, f), 'latin1')));
    t.same(keyLike, [], 'no file contains a PEM private key');
    // A .js packed while tsc was still writing it is empty: the package would not load.
    t.same(
      packedFiles.filter((f) => f.endsWith('.js') && fs.statSync(path.join(app, f)).size === 0),
      [],
      'no empty .js file',
    );
    t.match(
      fs.readFileSync(path.join(app, 'dist/cmd/ambientd/main.js'), 'utf8'),
      /^#!\/usr\/bin\/env -S node --initial-old-space-size=\d+\n/,
      'bin has a node shebang with the old generation floor (docs/design/reconnect-storm-cpu.md)',
    );
    const pkg = JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    t.same(pkg.bin, { ambientd: 'dist/cmd/ambientd/main.js' }, 'bin points at the compiled CLI');
  },
);

t.test(
  'the installed tarball: `ambientd version`, ' +
    "then the systemd unit's ExecStart with the example config serves; SIGTERM → exit 0",
  async (t) => {
    const bin = path.join(prefix, 'node_modules/.bin/ambientd');
    const cwd = tempDir(t); // nowhere near the repository: protos must come from the package
    const v = await runAmbientd(['version'], { command: [bin], cwd });
    t.equal(v.exit.code, 0, 'version exits 0');
    t.match(v.stdout, /^ambientd 0\.1\.0 /, 'prints the package version');

    // The unit's ExecStart as systemd would run it, with /opt/ambientd → the
    // prefix installed above and /etc/ambientd → deploy/systemd/config.yaml's
    // rebased copy; loopback ephemeral ports appended (flags win over the file).
    const unit = fs.readFileSync(path.join(REPO_ROOT, 'deploy/systemd/ambientd.service'), 'utf8');
    const etc = path.join(cwd, 'etc/ambientd');
    const state = path.join(cwd, 'var/lib/ambientd');
    const rebase = (v: string): string =>
      v.replaceAll('/opt/ambientd', prefix).replaceAll('/etc/ambientd', etc).replaceAll('/var/lib/ambientd', state);
    fs.mkdirSync(path.join(etc, 'registry'), { recursive: true });
    fs.writeFileSync(path.join(etc, 'registry/mesh.yaml'), MINI_MESH);
    fs.writeFileSync(
      path.join(etc, 'config.yaml'),
      rebase(fs.readFileSync(path.join(REPO_ROOT, 'deploy/systemd/config.yaml'), 'utf8')),
    );
    // StateDirectory= creates the directory for the service user and exports STATE_DIRECTORY.
    fs.mkdirSync(path.dirname(state), { recursive: true });
    fs.mkdirSync(state, { mode: 0o700 });
    const who = unprivileged(); // DynamicUser: some unprivileged uid
    if (who) fs.chownSync(state, who.uid, who.gid);
    const execStart = /^ExecStart=(.+)$/m.exec(unit)![1]!.split(/\s+/).map(rebase);
    const unitEnv = Object.fromEntries([...unit.matchAll(/^Environment=(\w+)=(\S*)$/gm)].map((m) => [m[1]!, m[2]!]));
    t.equal(execStart[0], bin, 'ExecStart is the bin npm installed under the prefix');
    const workdir = rebase(/^WorkingDirectory=(.+)$/m.exec(unit)![1]!);
    const p = spawnAmbientd(
      [
        ...execStart.slice(1),
        '--xds-listen=127.0.0.1:0',
        '--admin-metrics-listen=127.0.0.1:0',
        '--admin-debug-listen=127.0.0.1:0',
        '--ca-root-key-type=ec',
      ],
      {
        command: [execStart[0]!],
        cwd: workdir,
        env: cleanEnv({ ...unitEnv, STATE_DIRECTORY: state, CONFIGURATION_DIRECTORY: etc }),
        ...(who ?? {}),
      },
    );
    t.teardown(() => p.kill());
    const serving = await p.waitMsg('ambientd serving', 20_000);
    t.equal(serving.cluster, 'cluster-vm', 'the example config was used');
    // The kernel runs the bin's `#!/usr/bin/env -S node <options>`: the daemon has the options the CLI ships with.
    t.same(nodeOptionsOf(p.child.pid!), shebangNodeFlags(MAIN_JS), "the npm bin runs node with the shebang's options");
    t.ok(fs.existsSync(path.join(state, 'ca/root-cert.pem')), 'state went to $STATE_DIRECTORY');
    p.signal('SIGTERM');
    t.same(await p.waitExit(15_000), { code: 0, signal: null }, 'exit 0');
  },
);

interface ImageSpec {
  env: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
  user: string;
  workdir: string;
  volumes: string[];
  healthcheck: string[];
}

/** The runtime stage of the Dockerfile: ENV, ENTRYPOINT, CMD, USER, WORKDIR, VOLUME, HEALTHCHECK. */
function imageSpec(): ImageSpec {
  const text = fs.readFileSync(path.join(REPO_ROOT, 'deploy/container/Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages = text.split(/^FROM /m);
  const lines = stages[stages.length - 1]!.split('\n').map((l) => l.trim());
  const spec: ImageSpec = { env: {}, entrypoint: [], cmd: [], user: '', workdir: '/', volumes: [], healthcheck: [] };
  for (const l of lines) {
    const [ins, ...rest] = l.split(/\s+/);
    const arg = rest.join(' ');
    if (ins === 'ENV') for (const m of arg.matchAll(/(\w+)=(\S+)/g)) spec.env[m[1]!] = m[2]!;
    if (ins === 'ENTRYPOINT') spec.entrypoint = JSON.parse(arg) as string[];
    if (ins === 'CMD') spec.cmd = JSON.parse(arg) as string[];
    if (ins === 'USER') spec.user = arg;
    if (ins === 'WORKDIR') spec.workdir = arg;
    if (ins === 'VOLUME') spec.volumes = JSON.parse(arg) as string[];
    if (ins === 'HEALTHCHECK') spec.healthcheck = JSON.parse(arg.slice(arg.indexOf('CMD') + 3).trim()) as string[];
  }
  return spec;
}

t.test(
  'the container image layout: ENTRYPOINT + CMD serve from /app with config and state volumes, writing nowhere else',
  async (t) => {
    const spec = imageSpec();
    t.same(spec.volumes.sort(), ['/etc/ambientd', '/var/lib/ambientd'], 'state and config are volumes');
    t.match(spec.user, /^[1-9]\d*:[1-9]\d*$/, 'runs as a numeric non-root user');
    t.ok(spec.healthcheck.length > 0, 'has a HEALTHCHECK');
    const rebase = (s: string): string =>
      s.replace(
        /(^|=)(\/(app|etc\/ambientd|var\/lib\/ambientd))(?=\/|$)/g,
        (_m, pre: string, p: string) => `${pre}${imageRoot}${p}`,
      );

    // Config volume: the image's default config.yaml plus a registry; state volume: empty, owned by the image user.
    const etc = path.join(imageRoot, 'etc/ambientd');
    fs.mkdirSync(path.join(etc, 'registry'), { recursive: true });
    fs.writeFileSync(
      path.join(etc, 'config.yaml'),
      fs.readFileSync(path.join(REPO_ROOT, 'deploy/container/config.yaml'), 'utf8').replaceAll('/etc/ambientd', etc),
    );
    fs.writeFileSync(path.join(etc, 'registry/mesh.yaml'), MINI_MESH);
    const state = rebase(spec.env.AMBIENTD_STATE_DIR ?? '');
    t.equal(state, path.join(imageRoot, 'var/lib/ambientd'), 'AMBIENTD_STATE_DIR is the state volume');
    fs.mkdirSync(path.dirname(state), { recursive: true });
    fs.mkdirSync(state, { mode: 0o700 });
    const [uid, gid] = spec.user.split(':').map(Number) as [number, number];
    const asUser = unprivileged() ? { uid, gid } : {};
    if (unprivileged()) fs.chownSync(state, uid, gid);
    const before = snapshot(imageRoot, state);

    const [exe, ...args] = [...spec.entrypoint, ...spec.cmd].map(rebase);
    t.equal(exe, 'node', 'ENTRYPOINT runs node from PATH');
    const env = cleanEnv({
      ...Object.fromEntries(Object.entries(spec.env).map(([k, v]) => [k, rebase(v)])),
      // Loopback, ephemeral ports instead of the published ones.
      AMBIENTD_XDS_LISTEN: '127.0.0.1:0',
      AMBIENTD_METRICS_LISTEN: '127.0.0.1:0',
      AMBIENTD_DEBUG_LISTEN: '127.0.0.1:0',
      AMBIENTD_CA_ROOT_KEY_TYPE: 'ec',
    });
    const p = spawnAmbientd(args, { command: [process.execPath], cwd: rebase(spec.workdir), env, ...asUser });
    t.teardown(() => p.kill());
    await p.waitMsg('ambientd serving', 20_000);
    // An exec-form ENTRYPOINT has no shell to read the shebang: it repeats the options, and must agree.
    t.same(
      nodeOptionsOf(p.child.pid!),
      shebangNodeFlags(path.join(imageRoot, 'app/dist/cmd/ambientd/main.js')),
      "ENTRYPOINT runs node with the CLI's shebang options",
    );
    t.ok(fs.existsSync(path.join(state, 'ca/root-cert.pem')), 'CA state written to the state volume');
    t.same(
      changed(before, snapshot(imageRoot, state)),
      [],
      'nothing outside the state volume changed (read-only root friendly)',
    );

    const admin = p.logs.find((l) => l.msg === 'admin servers listening');
    if (admin) {
      const port = String(admin.debug).split(':').pop()!;
      const [hexe, ...hargs] = spec.healthcheck.map((a) => a.replace('127.0.0.1:8080', `127.0.0.1:${port}`));
      const hc = await runAmbientd(hargs, {
        command: [hexe === 'node' ? process.execPath : hexe!],
        cwd: rebase(spec.workdir),
        env,
        ...asUser,
      });
      t.equal(hc.exit.code, 0, 'HEALTHCHECK passes against /ready');
    } else {
      t.skip('HEALTHCHECK: this build of main.ts does not start the admin servers (no /ready yet)', () => undefined);
    }
    p.signal('SIGTERM');
    t.same(await p.waitExit(15_000), { code: 0, signal: null }, 'exit 0 on SIGTERM (docker stop)');
  },
);

function walk(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** path → size:mtime of every file under root, except under `skip`. */
function snapshot(root: string, skip: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const f = path.join(dir, e.name);
      if (f === skip) continue; // the volume itself changes (mtime) as the daemon writes into it
      const st = fs.lstatSync(f);
      out.set(f, `${st.size}:${st.mtimeMs}`);
      if (e.isDirectory()) visit(f);
    }
  };
  visit(root);
  return out;
}

function changed(a: Map<string, string>, b: Map<string, string>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => a.get(k) !== b.get(k));
}
