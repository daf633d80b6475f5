/**
 * n sequential round trips of a `size`-byte message over an echoing path: write, wait until as many bytes came
 * back, repeat. Returns each round trip's latency (ms). `on` subscribes to the path's incoming data once.
 */
export async function roundTrips(
  write: (b: Buffer) => void,
  on: (f: (d: Buffer) => void) => void,
  n: number,
  size = 64,
): Promise<number[]> {
  const out: number[] = [];
  const msg = Buffer.alloc(size, 0x45);
  let wait: (() => void) | undefined;
  let got = 0;
  on((d) => {
    got += d.length;
    if (got >= msg.length && wait) {
      got -= msg.length;
      const f = wait;
      wait = undefined;
      f();
    }
  });
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await new Promise<void>((r) => {
      wait = r;
      write(msg);
    });
    out.push(performance.now() - t);
  }
  return out;
}
