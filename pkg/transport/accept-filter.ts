import type { Server } from 'node:net';

/**
 * Refusing a connection before Node builds a Socket for it. Node's
 * net.Server hands each accepted connection to its listening handle's
 * `onconnection(err, clientHandle)` (lib/net.js), which constructs a Socket
 * (a Duplex stream) and emits 'connection'; closing such a socket costs
 * ~36 µs of CPU here, closing the bare handle ~21 µs (accept + close, the
 * floor; bench notes in docs/reliability.md). A flood from one address is
 * refused at that first step. The handle is Node-internal, so it is checked
 * for the expected shape; without it, nothing is installed and the
 * 'connection' event still enforces the same limit.
 */
interface PeerHandle {
  getpeername(out: { address?: string }): number;
  close(): void;
}

type OnConnection = (this: unknown, err: number, client?: PeerHandle) => void;

function isListenHandle(h: unknown): h is { onconnection: OnConnection } {
  return typeof h === 'object' && h !== null && typeof (h as { onconnection?: unknown }).onconnection === 'function';
}

function isPeerHandle(h: unknown): h is PeerHandle {
  if (typeof h !== 'object' || h === null) return false;
  const p = h as Partial<PeerHandle>;
  return typeof p.getpeername === 'function' && typeof p.close === 'function';
}

/**
 * After `server` listens: every accepted connection whose peer address
 * `refuse` rejects is closed before a Socket exists. Returns false when
 * Node's handle does not have the expected shape (nothing installed).
 */
export function refuseAtAccept(server: Server, refuse: (ip: string) => boolean): boolean {
  const handle: unknown = Reflect.get(server, '_handle');
  if (!isListenHandle(handle)) return false;
  const next = handle.onconnection;
  handle.onconnection = function (this: unknown, err: number, client?: PeerHandle): void {
    if (!err && isPeerHandle(client)) {
      const peer: { address?: string } = {};
      if (client.getpeername(peer) === 0 && peer.address !== undefined && refuse(peer.address)) {
        client.close();
        return;
      }
    }
    next.call(this, err, client);
  };
  return true;
}
