#!/usr/bin/env node
/**
 * The rig's agent: one per network namespace, started inside it (`ip netns exec`), controlled by the test over a
 * Unix socket (Unix sockets live in the filesystem, which namespaces share; TCP inside the namespace is out of
 * the test process's reach). Each control connection sends one JSON line:
 *  - {"op":"dial","host","port","socks"?}: a TCP connection inside the namespace (through ztunnel's SOCKS5
 *    listener when socks is true); the agent answers `ok\n` or `err <reason>\n`, then relays bytes both ways
 *    with half-close until both sides are done;
 *  - {"op":"serve","port","banner"?,"http"?} / {"op":"unserve","port"}: start or stop an app server
 *    (app-server.ts; `http` for the HTTP one);
 *  - {"op":"stats"}: open and accepted connections per app port;
 *  - {"op":"load",...}: a load run measured inside the namespace (agent-load.ts), for the bench.
 * Answers other than `dial` are one JSON line, then the agent closes the connection.
 * Usage: agent.js --sock <path> --name <pod name>
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { startAppServer, startHttpServer, type AppServer } from './app-server';
import { socksConnect } from './socks';
import { runLoad, type LoadRequest } from './agent-load';

interface Request {
  op: string;
  host?: string;
  port?: number;
  socks?: boolean;
  banner?: string;
  http?: boolean;
  load?: LoadRequest;
}

function arg(name: string): string {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (!v) throw new Error(`agent: ${name} is required`);
  return v;
}

const sockPath = arg('--sock');
const podName = arg('--name');
const servers = new Map<number, AppServer>();

function relay(a: net.Socket, b: net.Socket): void {
  let ended = 0;
  const done = (): void => {
    if (++ended === 2) {
      a.destroy();
      b.destroy();
    }
  };
  a.pipe(b);
  b.pipe(a);
  a.on('end', done);
  b.on('end', done);
  const kill = (): void => {
    a.destroy();
    b.destroy();
  };
  a.on('error', kill);
  b.on('error', kill);
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
}

async function dial(c: net.Socket, r: Request): Promise<void> {
  const host = r.host ?? '127.0.0.1';
  const port = r.port ?? 0;
  let up: net.Socket;
  try {
    up = r.socks
      ? await socksConnect({ host, port })
      : await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect({ host, port, allowHalfOpen: true }, () => {
            s.removeListener('error', reject);
            resolve(s);
          });
          s.once('error', reject);
          s.setTimeout(10_000, () => s.destroy(new Error('connect timeout')));
        });
  } catch (e) {
    c.end(`err ${(e as Error).message.replace(/\n/g, ' ')}\n`);
    return;
  }
  up.setTimeout(0);
  up.setNoDelay(true);
  c.write('ok\n');
  relay(c, up);
  up.resume();
}

async function handle(c: net.Socket, r: Request): Promise<void> {
  const reply = (v: unknown): void => void c.end(`${JSON.stringify(v)}\n`);
  switch (r.op) {
    case 'dial':
      return dial(c, r);
    case 'serve': {
      const port = r.port ?? 0;
      const banner = r.banner ?? podName;
      if (!servers.has(port)) servers.set(port, await (r.http ? startHttpServer : startAppServer)({ port, banner }));
      return void reply({ ok: true, port: servers.get(port)!.port });
    }
    case 'unserve': {
      const s = servers.get(r.port ?? 0);
      servers.delete(r.port ?? 0);
      await s?.close();
      return void reply({ ok: true });
    }
    case 'stats':
      return void reply(Object.fromEntries([...servers].map(([p, s]) => [p, s.stats()])));
    case 'load':
      return void reply(await runLoad(r.load!));
    default:
      return void reply({ error: `unknown op ${r.op}` });
  }
}

const server = net.createServer({ allowHalfOpen: true }, (c) => {
  let buf = Buffer.alloc(0);
  c.on('error', () => c.destroy());
  const timer = setTimeout(() => c.destroy(), 10_000);
  const onData = (b: Buffer): void => {
    buf = Buffer.concat([buf, b]);
    const nl = buf.indexOf(10);
    if (nl < 0) {
      if (buf.length > 64 * 1024) c.destroy();
      return;
    }
    clearTimeout(timer);
    c.removeListener('data', onData);
    c.pause();
    if (buf.length > nl + 1) c.unshift(buf.subarray(nl + 1));
    let r: Request;
    try {
      r = JSON.parse(buf.subarray(0, nl).toString('utf8')) as Request;
    } catch {
      c.end('{"error":"bad request"}\n');
      return;
    }
    handle(c, r).catch((e: unknown) => c.end(`${JSON.stringify({ error: (e as Error).message })}\n`));
  };
  c.on('data', onData);
});

fs.rmSync(sockPath, { force: true });
server.listen(sockPath, () => process.stdout.write(`agent ready ${podName}\n`));
const stop = (): void => {
  for (const s of servers.values()) void s.close();
  server.close();
  fs.rmSync(sockPath, { force: true });
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
