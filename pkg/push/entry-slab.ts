import type { ResourceFrameEncoder } from '../wire';
import { entryInPlace, type AliasSource, type CacheEntry } from '../xds';

/** Node's buffer pool size: slabs retain memory as its pool does (a slab lives while one of its entries does). */
const SLAB = 8 * 1024;

/**
 * Writes cache entries in place: each frame is encoded backwards, top-down
 * into the current slab, and its entry keeps the bytes where they were written
 * (pkg/xds entryInPlace, which also leaves the name's marked copies out by
 * moving the frame head up), so no frame is copied after it is encoded. The
 * bytes at and above `top` belong to entries and are never written again.
 */
export class EntrySlab {
  private slab = Buffer.allocUnsafeSlow(SLAB);
  private top = SLAB;
  /** Length of the last frame written: less room than that starts a new slab instead of a wasted try. */
  private last = 0;

  write<T>(enc: ResourceFrameEncoder<T>, name: string, msg: T, aliases: AliasSource): CacheEntry {
    if (this.top < this.last) this.fresh(SLAB);
    for (;;) {
      const end = this.top;
      const start = enc.writeFrame(name, msg, this.slab, end);
      if (start >= 0) {
        const e = entryInPlace(this.slab, start, end, aliases, enc.nameLen, enc.hole1, enc.hole2, enc.nameHash);
        this.last = end - start;
        this.top = end - e.storedLength;
        return e;
      }
      this.fresh(Math.max(SLAB, 2 * (end - start)));
    }
  }

  private fresh(size: number): void {
    this.slab = Buffer.allocUnsafeSlow(size);
    this.top = size;
  }
}
