import * as fs from 'node:fs';
import * as path from 'node:path';
import { istiodServingCert } from './floor';
import { SimProc } from './sim-proc';

/** What N bare peer links cost in memory (see bench/sim/link-floor.ts). */
export interface LinkFloor {
  /** RSS per link after a full GC (KiB): native TLS/HTTP/2 state and the links' JS objects. */
  perLinkKiB: number;
  /** Of which JS heap (KiB). */
  heapPerLinkKiB: number;
  /** All N links (MiB). */
  totalMiB: number;
  /** The measuring process before its first link (MiB): Node plus the modules it loaded. */
  baseMiB: number;
}

/**
 * Opens `links` mTLS HTTP/2 links that each receive `responseBytes`, in a process of their own, and reports their
 * memory.
 */
export async function linkFloor(o: { links: number; responseBytes: number }): Promise<LinkFloor> {
  const { dir, key, cert } = istiodServingCert('links');
  const proc = new SimProc(
    path.join(__dirname, '..', 'sim', 'link-floor.js'),
    ['--expose-gc'],
    [key, cert, String(o.links), String(o.responseBytes)],
  );
  try {
    await proc.next('ready');
    proc.send({ cmd: 'run' });
    const r = await proc.next('floor', 600_000);
    return {
      perLinkKiB: Number(r.perLinkKiB),
      heapPerLinkKiB: Number(r.heapPerLinkKiB),
      totalMiB: Number(r.totalMiB),
      baseMiB: Number(r.baseMiB),
    };
  } finally {
    proc.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
