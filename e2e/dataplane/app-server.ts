import * as net from 'node:net';

/**
 * The rig's application: a plain TCP server in a pod's namespace. Every connection first receives the banner
 * (`<pod name>\n`, so the client learns which pod answered), then:
 *  - `sink\n` as the first line: everything after it is counted and discarded; at the client's FIN the server
 *    answers `<bytes>\n` and closes (bulk throughput);
 *  - `source <n>\n`: the server sends n bytes and closes;
 *  - anything else: echoed back, the first line included; the server half-closes after the client does.
 * Open connections are counted, so a test can see that nothing is left half-open.
 */
export interface AppServer {
  readonly port: number;
  stats(): { open: number; accepted: number };
  close(): Promise<void>;
}

const CHUNK = Buffer.alloc(256 * 1024, 0x61);

export async function startAppServer(o: { port: number; banner: string; host?: string }): Promise<AppServer> {
  const open = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    accepted++;
    open.add(s);
    s.setNoDelay(true);
    s.on('close', () => open.delete(s));
    s.on('error', () => s.destroy());
    s.write(`${o.banner}\n`);
    let head = Buffer.alloc(0);
    const onHead = (b: Buffer): void => {
      head = Buffer.concat([head, b]);
      const nl = head.indexOf(10);
      if (nl < 0 && head.length < 64) return;
      s.removeListener('data', onHead);
      s.removeListener('end', onHeadEnd);
      const line = nl >= 0 ? head.subarray(0, nl).toString('latin1') : '';
      if (line === 'sink') return void sink(s, head.length - nl - 1);
      const m = /^source (\d+)$/.exec(line);
      if (m) return void source(s, Number(m[1]));
      echo(s, head);
    };
    const onHeadEnd = (): void => {
      s.removeListener('data', onHead);
      echo(s, head);
      s.end();
    };
    s.on('data', onHead);
    s.on('end', onHeadEnd);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: o.port, host: o.host ?? '0.0.0.0' }, () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    stats: () => ({ open: open.size, accepted }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function echo(s: net.Socket, first: Buffer): void {
  if (first.length > 0) s.write(first);
  s.on('data', (b: Buffer) => {
    if (!s.write(b)) {
      s.pause();
      s.once('drain', () => s.resume());
    }
  });
  s.on('end', () => s.end());
}

function sink(s: net.Socket, already: number): void {
  let n = already;
  s.on('data', (b: Buffer) => void (n += b.length));
  s.on('end', () => s.end(`${n}\n`));
}

function source(s: net.Socket, total: number): void {
  let left = total;
  const pump = (): void => {
    while (left > 0) {
      const c = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= c.length;
      if (!s.write(c)) return void s.once('drain', pump);
    }
    s.end();
  };
  pump();
  s.on('data', () => undefined);
}

/** A tiny HTTP app for people trying the rig by hand (`curl --socks5 …`): answers `hello from <banner>`. */
export async function startHttpServer(o: { port: number; banner: string }): Promise<AppServer> {
  const { createServer } = await import('node:http');
  let accepted = 0;
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`hello from ${o.banner}\n`);
    req.resume();
  });
  server.on('connection', () => void accepted++);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: o.port, host: '0.0.0.0' }, () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    stats: () => ({ open: 0, accepted }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
