import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import * as path from 'node:path';
import { findZtunnel } from '../harness/ztunnel-bin';
import type { LooseJson } from '../harness/loose-json';

/**
 * The outer leg of double HBONE with an unmodified ztunnel as the client
 * (tools/ztunnel/ensure.sh): it must resolve the gateway from its xDS state,
 * accept the gateway's certificate, get 200 for CONNECT <global host>:<port>,
 * and its inner TLS ClientHello must arrive at the pod's :15008 untouched.
 * Runs in a network namespace of its own (loopback only), torn down after.
 */
t.setTimeout(180_000);

function hasIp(): boolean {
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const zt = findZtunnel();
const bin = typeof zt === 'string' ? undefined : zt.path;
const root = process.getuid?.() === 0;
const skip = !root
  ? 'needs root (network namespaces)'
  : !hasIp()
    ? 'needs the ip command (Debian package iproute2)'
    : typeof zt === 'string'
      ? zt
      : false;

t.test('a real ztunnel reaches the pod through the gateway', { skip }, async (t) => {
  const nsName = `ewzt${process.pid}`;
  execFileSync('ip', ['netns', 'add', nsName]);
  t.teardown(() => execFileSync('ip', ['netns', 'del', nsName]));
  execFileSync('ip', ['-n', nsName, 'link', 'set', 'lo', 'up']);
  const probe = path.join(__dirname, 'real-ztunnel-probe.js');
  const child = spawn('ip', ['netns', 'exec', nsName, 'env', '-u', 'NODE_OPTIONS', process.execPath, probe, bin!], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  t.equal(code, 0, `probe exit (stderr: ${err.slice(-2000)})`);
  const line = out.split('\n').find((l) => l.startsWith('PROBE '));
  t.ok(line, 'probe reported');
  const r = JSON.parse(line!.slice(6)) as LooseJson;
  t.comment(JSON.stringify(r));
  t.equal(r.socksReply, 0, 'ztunnel accepted the SOCKS5 CONNECT to the global VIP');
  t.equal(r.tunnels, 1, 'the gateway established one tunnel (ztunnel got 200)');
  t.same(r.refusals, [], 'nothing refused');
  t.equal(r.firstBytes.slice(0, 2), '16', 'the pod got a TLS handshake record: the inner HBONE ClientHello');
  t.ok(r.received > 100, 'a whole ClientHello, relayed untouched');
});
