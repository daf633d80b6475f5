import * as net from 'node:net';
import * as tls from 'node:tls';
import { ADS_DELTA_PATH } from '../../pkg/xds';

/**
 * A hand-written HTTP/2 client for attack tests (RFC 9113 framing, RFC 7541
 * HPACK literals): unlike node:http2 it ignores the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS, never sends a message unless told to, and
 * reports what the server did to it (RST_STREAM, GOAWAY, close).
 */
export interface RawH2 {
  socket: tls.TLSSocket;
  /** RST_STREAM frames received, by error code. */
  resets: Map<number, number>;
  /** Streams that got a response HEADERS frame. */
  responded: Set<number>;
  goaway: boolean;
  closed: boolean;
  closedAt?: number;
  openedAt: number;
  /** Opens `n` streams with request headers only (no message, no END_STREAM); returns their ids. */
  headerOnly(n: number, extra?: Record<string, string>): number[];
  /** Opens one stream and sends `data` on it (no END_STREAM). */
  stream(data: Buffer, extra?: Record<string, string>): number;
  /** More DATA on an open stream. */
  data(id: number, data: Buffer): void;
  destroy(): void;
}

export interface RawH2Options {
  port: number;
  /** Source address (any 127.x.y.z): attackers get their own, so per-source limits see them apart. */
  localAddress: string;
  /** false: finish TLS but never send the HTTP/2 preface. */
  preface?: boolean;
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

function frame(type: number, flags: number, id: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(id & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK string literal, no Huffman: the length as a 7-bit-prefix integer (RFC 7541 §5.1), then the bytes. */
function str(s: string): Buffer {
  const b = Buffer.from(s);
  const len: number[] = [];
  if (b.length < 127) len.push(b.length);
  else {
    len.push(127);
    let rest = b.length - 127;
    while (rest >= 128) {
      len.push((rest & 0x7f) | 0x80);
      rest >>= 7;
    }
    len.push(rest);
  }
  return Buffer.concat([Buffer.from(len), b]);
}

function headerBlock(extra: Record<string, string>): Buffer {
  const parts: Buffer[] = [
    Buffer.from([0x83]), // :method POST (static index 3)
    Buffer.from([0x87]), // :scheme https (static index 7)
    Buffer.from([0x04]),
    str(ADS_DELTA_PATH), // :path, literal without indexing, name index 4
    Buffer.from([0x01]),
    str('istiod.istio-system.svc'), // :authority, name index 1
    Buffer.from([0x0f, 0x10]),
    str('application/grpc'), // content-type, name index 31
  ];
  for (const [k, v] of Object.entries({ te: 'trailers', ...extra })) parts.push(Buffer.from([0x00]), str(k), str(v));
  return Buffer.concat(parts);
}

export function rawH2(o: RawH2Options): Promise<RawH2> {
  return new Promise((resolve, reject) => {
    const tcp = net.connect({ host: '127.0.0.1', port: o.port, localAddress: o.localAddress });
    tcp.on('error', () => undefined);
    const socket = tls.connect({
      socket: tcp,
      ALPNProtocols: ['h2'],
      rejectUnauthorized: false,
      servername: 'istiod.istio-system.svc',
      minVersion: 'TLSv1.3',
    });
    let nextId = 1;
    let inbuf: Buffer = Buffer.alloc(0);
    const c: RawH2 = {
      socket,
      resets: new Map(),
      responded: new Set(),
      goaway: false,
      closed: false,
      openedAt: performance.now(),
      headerOnly(n, extra = {}) {
        const block = headerBlock(extra);
        const ids: number[] = [];
        const out: Buffer[] = [];
        for (let i = 0; i < n; i++) {
          ids.push(nextId);
          out.push(frame(0x1, 0x4, nextId, block)); // HEADERS, END_HEADERS
          nextId += 2;
        }
        if (!socket.destroyed) socket.write(Buffer.concat(out));
        return ids;
      },
      stream(data, extra = {}) {
        const [id] = c.headerOnly(1, extra);
        c.data(id!, data);
        return id!;
      },
      data(id, data) {
        const out: Buffer[] = [];
        for (let off = 0; off < data.length; off += 16_384) {
          out.push(frame(0x0, 0, id, data.subarray(off, off + 16_384)));
        }
        if (!socket.destroyed) socket.write(Buffer.concat(out));
      },
      destroy: () => socket.destroy(),
    };
    socket.on('secureConnect', () => {
      // Preface, our SETTINGS (none changed) and a large connection window, so DATA is never held back by us.
      const windowUpdate = Buffer.alloc(4);
      windowUpdate.writeUInt32BE(1 << 30);
      const settings = frame(0x4, 0, 0, Buffer.alloc(0));
      if (o.preface !== false) socket.write(Buffer.concat([PREFACE, settings, frame(0x8, 0, 0, windowUpdate)]));
      resolve(c);
    });
    socket.on('data', (d: Buffer) => {
      if (o.preface === false) return; // silent: not even a SETTINGS ACK
      inbuf = inbuf.length ? Buffer.concat([inbuf, d]) : d;
      while (inbuf.length >= 9) {
        const len = inbuf.readUIntBE(0, 3);
        if (inbuf.length < 9 + len) break;
        const type = inbuf[3]!;
        const flags = inbuf[4]!;
        const id = inbuf.readUInt32BE(5) & 0x7fffffff;
        const payload = inbuf.subarray(9, 9 + len);
        inbuf = inbuf.subarray(9 + len);
        if (type === 0x4 && !(flags & 0x1))
          socket.write(frame(0x4, 0x1, 0, Buffer.alloc(0))); // SETTINGS ACK
        else if (type === 0x6 && !(flags & 0x1))
          socket.write(frame(0x6, 0x1, 0, payload)); // PING ACK
        else if (type === 0x3) {
          const code = payload.readUInt32BE(0);
          c.resets.set(code, (c.resets.get(code) ?? 0) + 1);
        } else if (type === 0x1) c.responded.add(id);
        else if (type === 0x7) c.goaway = true;
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      c.closed = true;
      c.closedAt = performance.now();
      reject(new Error('closed before TLS finished'));
    });
  });
}

/** A gRPC Length-Prefixed-Message header declaring `length` bytes (grpc/grpc doc/PROTOCOL-HTTP2.md). */
export function grpcPrefix(length: number): Buffer {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(length, 1);
  return b;
}
