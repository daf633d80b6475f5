import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawnInNetns, type NetnsProc } from './netns-proc';
import type { LoadRequest, LoadResult } from './agent-load';

const AGENT_JS = path.join(__dirname, 'agent.js');

/** The test's handle on one namespace's agent (agent.ts). */
export class Agent {
  /** `proc` is absent for an agent another process started (the rig CLI's `call`). */
  constructor(
    readonly name: string,
    readonly sock: string,
    readonly proc?: NetnsProc,
  ) {}

  static async start(o: { ns: string; name: string; workDir: string; logDir: string }): Promise<Agent> {
    const sock = path.join(o.workDir, `${o.name}.sock`);
    const proc = spawnInNetns({
      ns: o.ns,
      name: `agent-${o.name}`,
      cmd: process.execPath,
      args: [AGENT_JS, '--sock', sock, '--name', o.name],
      logDir: o.logDir,
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`agent ${o.name} did not start: ${proc.logTail()}`)), 20_000);
      proc.onLine((l) => {
        if (l.startsWith('agent ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void proc.exited.then((c) => {
        clearTimeout(timer);
        reject(new Error(`agent ${o.name} exited (${c}): ${proc.logTail()}`));
      });
    });
    return new Agent(o.name, sock, proc);
  }

  private open(req: object): Promise<{ s: net.Socket; first: string }> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ path: this.sock, allowHalfOpen: true });
      let buf = Buffer.alloc(0);
      const onData = (b: Buffer): void => {
        buf = Buffer.concat([buf, b]);
        const nl = buf.indexOf(10);
        if (nl < 0) return;
        s.removeListener('data', onData);
        s.removeListener('error', reject);
        s.removeListener('end', onEnd);
        s.pause();
        if (buf.length > nl + 1) s.unshift(buf.subarray(nl + 1));
        resolve({ s, first: buf.subarray(0, nl).toString('utf8') });
      };
      const onEnd = (): void => reject(new Error(`agent ${this.name}: closed without an answer`));
      s.on('data', onData);
      s.on('error', reject);
      s.on('end', onEnd);
      s.write(`${JSON.stringify(req)}\n`);
    });
  }

  async call<T = Record<string, unknown>>(req: object): Promise<T> {
    const { s, first } = await this.open(req);
    s.destroy();
    const v = JSON.parse(first) as T & { error?: string };
    if (v.error) throw new Error(`agent ${this.name}: ${v.error}`);
    return v;
  }

  /** A TCP connection from inside the namespace; through the pod's ztunnel (SOCKS5) when socks is set. */
  async dial(host: string, port: number, o: { socks?: boolean } = {}): Promise<net.Socket> {
    const { s, first } = await this.open({ op: 'dial', host, port, socks: o.socks === true });
    if (first !== 'ok') {
      s.destroy();
      throw new Error(`dial ${host}:${port} from ${this.name}: ${first.replace(/^err /, '')}`);
    }
    return s;
  }

  /** GET over a dialled connection (ztunnel admin 15000, readiness 15021, ambientd debug). */
  async get(host: string, port: number, urlPath: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
    const s = await this.dial(host, port);
    return new Promise((resolve, reject) => {
      const opts: http.RequestOptions = {
        host,
        port,
        path: urlPath,
        method: 'GET',
        createConnection: () => s,
        timeout: timeoutMs,
        headers: { connection: 'close' },
      };
      const req = http.request(opts, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => void (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`GET ${urlPath}: timeout`)));
      req.on('error', reject);
      req.end();
      // open() left the socket paused; http's 'data' listener does not resume an explicitly paused stream.
      s.resume();
    });
  }

  serve(port: number, banner?: string, o: { http?: boolean } = {}): Promise<unknown> {
    return this.call({ op: 'serve', port, banner, http: o.http === true });
  }

  unserve(port: number): Promise<unknown> {
    return this.call({ op: 'unserve', port });
  }

  stats(): Promise<Record<string, { open: number; accepted: number }>> {
    return this.call({ op: 'stats' });
  }

  load(load: LoadRequest): Promise<LoadResult> {
    return this.call({ op: 'load', load });
  }

  async close(): Promise<void> {
    await this.proc?.stop(2000);
  }
}

/**
 * An app connection held by the test: opened through the pod's ztunnel (or plain TCP with `plain`), the app's
 * banner read (so the connection is known to be end to end), with helpers to exchange lines.
 */
export interface AppConn {
  readonly banner: string;
  readonly socket: net.Socket;
  /** Sends a line and resolves with the echoed line. */
  echo(line: string, timeoutMs?: number): Promise<string>;
  /** Half-closes and resolves once the far side has closed too (true) or the timeout passed (false). */
  finish(timeoutMs?: number): Promise<boolean>;
  /** Resolves true once the far side has ended the connection (EOF or close), false after the timeout. */
  endedByPeer(timeoutMs: number): Promise<boolean>;
  close(): void;
}

export async function openAppConn(
  agent: Agent,
  host: string,
  port: number,
  o: { timeoutMs?: number; plain?: boolean } = {},
): Promise<AppConn> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const s = await agent.dial(host, port, { socks: !o.plain });
  let buf = '';
  let ended = false;
  const waiters: (() => void)[] = [];
  const wake = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  s.setEncoding('utf8');
  s.on('data', (c: string) => {
    buf += c;
    wake();
  });
  s.on('end', () => {
    ended = true;
    wake();
  });
  s.on('close', () => {
    ended = true;
    wake();
  });
  s.on('error', () => undefined);
  s.resume();
  const nextLine = (ms: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line from ${host}:${port} within ${ms} ms`)), ms);
      const check = (): void => {
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(timer);
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          return void resolve(line);
        }
        if (ended) {
          clearTimeout(timer);
          const why = `${host}:${port} from ${agent.name}: connection closed before a reply (refused upstream)`;
          return void reject(new Error(why));
        }
        waiters.push(check);
      };
      check();
    });
  let banner: string;
  try {
    banner = await nextLine(timeoutMs);
  } catch (e) {
    s.destroy();
    throw e;
  }
  return {
    banner,
    socket: s,
    async echo(line, ms = 5000) {
      s.write(`${line}\n`);
      return nextLine(ms);
    },
    finish(ms = 5000) {
      s.end();
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        s.once('close', () => {
          clearTimeout(timer);
          resolve(true);
        });
        if (s.destroyed) {
          clearTimeout(timer);
          resolve(true);
        }
      });
    },
    endedByPeer(ms) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        const check = (): void => {
          if (!ended) return void waiters.push(check);
          clearTimeout(timer);
          resolve(true);
        };
        check();
      });
    },
    close: () => s.destroy(),
  };
}
