import type * as net from 'node:net';

/** Splits a validated "host:port" / "[v6]:port" listen string (pkg/config checked its form). */
export function splitHostPort(a: string): { host: string; port: number } {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(a.slice(i + 1)) };
}

/** Listens on `addr` and resolves with the bound port (a listen error rejects). */
export async function bindServer(server: net.Server, addr: string): Promise<number> {
  const { host, port } = splitHostPort(addr);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as net.AddressInfo).port;
}
