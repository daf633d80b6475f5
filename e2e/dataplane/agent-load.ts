import * as net from 'node:net';
import { socksConnect } from './socks';

/**
 * Load runs measured inside a pod's namespace by its agent, against an app server (app-server.ts) reached
 * through the local ztunnel's SOCKS5 listener. Measuring in the namespace keeps the test process and its Unix
 * relay out of the figures.
 */
export type LoadRequest =
  | { kind: 'bulk'; host: string; port: number; bytes: number; streams: number }
  | { kind: 'rr'; host: string; port: number; count: number; size: number; fresh: boolean }
  | { kind: 'connrate'; host: string; port: number; durationMs: number; concurrency: number }
  | { kind: 'hold'; host: string; port: number; count: number }
  | { kind: 'release' }
  | { kind: 'probe'; host: string; port: number; timeoutMs: number; expect?: string };

export type LoadResult = Record<string, unknown>;

const held: net.Socket[] = [];
const CHUNK = Buffer.alloc(256 * 1024, 0x62);

/** Connects through SOCKS5 and reads the app's banner line; rejects on EOF before it (a refused upstream). */
export async function openApp(
  host: string,
  port: number,
  timeoutMs = 10_000,
): Promise<{ s: net.Socket; banner: string }> {
  const s = await socksConnect({ host, port, timeoutMs });
  s.setNoDelay(true);
  const banner = await new Promise<string>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error('no banner')), timeoutMs);
    const done = (e: Error | undefined, v?: string): void => {
      clearTimeout(timer);
      s.removeListener('data', onData);
      s.removeListener('end', onEnd);
      s.removeListener('error', onErr);
      s.pause();
      if (e) {
        s.destroy();
        reject(e);
      } else resolve(v!);
    };
    const onData = (b: Buffer): void => {
      buf = Buffer.concat([buf, b]);
      const nl = buf.indexOf(10);
      if (nl < 0) return;
      if (buf.length > nl + 1) s.unshift(buf.subarray(nl + 1));
      done(undefined, buf.subarray(0, nl).toString('utf8'));
    };
    const onEnd = (): void => done(new Error('upstream closed before the app answered'));
    const onErr = (e: Error): void => done(e);
    s.on('data', onData);
    s.on('end', onEnd);
    s.on('error', onErr);
    // socksConnect hands the socket over paused; a 'data' listener does not resume an explicitly paused stream.
    s.resume();
  });
  return { s, banner };
}

function readExactly(s: net.Socket, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (b: Buffer): void => {
      got += b.length;
      if (got >= n) finish();
    };
    const onEnd = (): void => finish(new Error('closed mid-response'));
    const finish = (e?: Error): void => {
      s.removeListener('data', onData);
      s.removeListener('end', onEnd);
      s.pause();
      if (e) reject(e);
      else resolve();
    };
    s.on('data', onData);
    s.on('end', onEnd);
    s.resume();
  });
}

async function bulkOne(host: string, port: number, bytes: number): Promise<number> {
  const { s } = await openApp(host, port);
  s.write('sink\n');
  let left = bytes;
  await new Promise<void>((resolve, reject) => {
    s.on('error', reject);
    const pump = (): void => {
      while (left > 0) {
        const c = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
        left -= c.length;
        if (!s.write(c)) return void s.once('drain', pump);
      }
      s.end();
      resolve();
    };
    pump();
  });
  let reply = '';
  s.on('data', (b: Buffer) => void (reply += b.toString()));
  s.resume();
  await new Promise<void>((resolve) => s.on('close', () => resolve()));
  return Number(reply.trim());
}

export async function runLoad(r: LoadRequest): Promise<LoadResult> {
  switch (r.kind) {
    case 'bulk': {
      const t0 = performance.now();
      const counts = await Promise.all(Array.from({ length: r.streams }, () => bulkOne(r.host, r.port, r.bytes)));
      const ms = performance.now() - t0;
      const received = counts.reduce((a, b) => a + b, 0);
      return { ms, bytes: r.bytes * r.streams, received };
    }
    case 'rr': {
      const samples: number[] = [];
      const req = Buffer.alloc(r.size, 0x63);
      if (r.fresh) {
        for (let i = 0; i < r.count; i++) {
          const t0 = performance.now();
          const { s } = await openApp(r.host, r.port);
          s.write(req);
          await readExactly(s, r.size);
          samples.push(performance.now() - t0);
          s.destroy();
        }
      } else {
        const { s } = await openApp(r.host, r.port);
        for (let i = 0; i < r.count; i++) {
          const t0 = performance.now();
          s.write(req);
          await readExactly(s, r.size);
          samples.push(performance.now() - t0);
        }
        s.destroy();
      }
      return { samples };
    }
    case 'connrate': {
      const end = performance.now() + r.durationMs;
      let ok = 0;
      let failed = 0;
      const worker = async (): Promise<void> => {
        while (performance.now() < end) {
          try {
            const { s } = await openApp(r.host, r.port);
            s.end();
            await new Promise<void>((resolve) => {
              s.on('close', () => resolve());
              s.resume();
            });
            ok++;
          } catch {
            failed++;
          }
        }
      };
      const t0 = performance.now();
      await Promise.all(Array.from({ length: r.concurrency }, worker));
      return { ok, failed, ms: performance.now() - t0 };
    }
    case 'hold': {
      for (let i = 0; i < r.count; i++) {
        const { s } = await openApp(r.host, r.port);
        s.on('error', () => undefined);
        held.push(s);
      }
      return { held: held.length };
    }
    case 'release': {
      for (const s of held.splice(0)) s.destroy();
      return { held: 0 };
    }
    case 'probe': {
      const t0 = performance.now();
      let last = '';
      while (performance.now() - t0 < r.timeoutMs) {
        try {
          const { s, banner } = await openApp(r.host, r.port, 2000);
          s.destroy();
          if (!r.expect || banner.startsWith(r.expect)) return { ms: performance.now() - t0, banner };
          last = `answered by ${banner}`;
        } catch (e) {
          last = (e as Error).message;
        }
        await new Promise((res) => setImmediate(res));
      }
      return { error: `no connection within ${r.timeoutMs} ms (${last})` };
    }
  }
}
