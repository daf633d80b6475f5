import * as net from 'node:net';

/**
 * A SOCKS5 CONNECT (RFC 1928) to an IPv4 target through ztunnel's listener (127.0.0.1:15080 in the pod's
 * namespace; ztunnel src/proxy/socks5.rs): no authentication, IPv4 address type. ztunnel answers success before it
 * dials the upstream, so a refused or failed upstream shows as EOF after the reply, never as a SOCKS error.
 * Resolves with the socket positioned after the reply.
 */
export function socksConnect(o: {
  host: string;
  port: number;
  proxyPort?: number;
  timeoutMs?: number;
}): Promise<net.Socket> {
  const octets = o.host.split('.').map(Number);
  if (octets.length !== 4 || octets.some((x) => !(x >= 0 && x <= 255))) {
    return Promise.reject(new Error(`socks: ${o.host} is not an IPv4 address`));
  }
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: o.proxyPort ?? 15080, allowHalfOpen: true });
    const timeoutMs = o.timeoutMs ?? 10_000;
    const timer = setTimeout(() => fail(new Error(`socks: no reply within ${timeoutMs} ms`)), timeoutMs);
    let buf = Buffer.alloc(0);
    let stage = 0;
    const fail = (e: Error): void => {
      clearTimeout(timer);
      s.destroy();
      reject(e);
    };
    s.on('error', fail);
    s.on('end', () => fail(new Error('socks: proxy closed during the handshake')));
    s.on('connect', () => s.write(Buffer.from([5, 1, 0])));
    const onData = (b: Buffer): void => {
      buf = Buffer.concat([buf, b]);
      if (stage === 0) {
        if (buf.length < 2) return;
        if (buf[0] !== 5 || buf[1] !== 0) return void fail(new Error(`socks: method refused (${buf[1]})`));
        buf = buf.subarray(2);
        stage = 1;
        s.write(Buffer.from([5, 1, 0, 1, ...octets, o.port >> 8, o.port & 0xff]));
      }
      if (stage === 1) {
        if (buf.length < 4) return;
        if (buf[1] !== 0) return void fail(new Error(`socks: connect refused (reply ${buf[1]})`));
        const len = buf[3] === 1 ? 10 : buf[3] === 4 ? 22 : buf[3] === 3 ? 7 + (buf[4] ?? 0) : -1;
        if (len < 0) return void fail(new Error(`socks: bad address type ${buf[3]}`));
        if (buf.length < len) return;
        clearTimeout(timer);
        s.removeListener('data', onData);
        // Paused until the caller reads: nothing arriving after the reply may be lost.
        s.pause();
        s.removeListener('error', fail);
        s.removeAllListeners('end');
        const rest = buf.subarray(len);
        if (rest.length > 0) s.unshift(rest);
        resolve(s);
      }
    };
    s.on('data', onData);
  });
}
