import { Rng } from '../chaos/model';

export { Rng };

/** Interesting values that break length fields, varints and indexes. */
const MAGIC = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x0a, 0x12, 0x1a, 0x22, 0x2a, 0x30, 0x82, 0x84, 0x86];

/**
 * One mutation of `src` (never in place): bit flips, byte sets, inserts,
 * deletes, duplicated or swapped ranges, truncation, extension, splices from
 * another corpus entry, or a run of mutations stacked.
 */
export function mutateBytes(rng: Rng, src: Uint8Array, corpus: readonly Uint8Array[] = []): Buffer {
  let b: Buffer = Buffer.from(src);
  const rounds = 1 + (rng.chance(0.3) ? rng.int(6) : 0);
  for (let r = 0; r < rounds; r++) b = mutateOnce(rng, b, corpus);
  return b;
}

function mutateOnce(rng: Rng, b: Buffer, corpus: readonly Uint8Array[]): Buffer {
  const at = (): number => (b.length ? rng.int(b.length) : 0);
  switch (rng.int(11)) {
    case 0: {
      if (!b.length) return Buffer.from([rng.int(256)]);
      const c = Buffer.from(b);
      const i = at();
      c[i] = c[i]! ^ (1 << rng.int(8));
      return c;
    }
    case 1: {
      if (!b.length) return b;
      const c = Buffer.from(b);
      c[at()] = rng.pick(MAGIC);
      return c;
    }
    case 2: {
      const i = at();
      const ins = Buffer.from(
        Array.from({ length: 1 + rng.int(8) }, () => (rng.chance(0.5) ? rng.pick(MAGIC) : rng.int(256))),
      );
      return Buffer.concat([b.subarray(0, i), ins, b.subarray(i)]);
    }
    case 3: {
      const i = at();
      return Buffer.concat([b.subarray(0, i), b.subarray(Math.min(b.length, i + 1 + rng.int(16)))]);
    }
    case 4: {
      const i = at();
      const j = Math.min(b.length, i + 1 + rng.int(32));
      return Buffer.concat([b.subarray(0, j), b.subarray(i, j), b.subarray(j)]);
    }
    case 5:
      return b.subarray(0, at());
    case 6:
      return Buffer.concat([b, Buffer.from(Array.from({ length: 1 + rng.int(32) }, () => rng.int(256)))]);
    case 7: {
      if (!corpus.length) return b;
      const o = rng.pick(corpus);
      const i = at();
      const j = o.length ? rng.int(o.length) : 0;
      return Buffer.concat([b.subarray(0, i), Buffer.from(o.subarray(j, j + 1 + rng.int(64)))]);
    }
    case 8: {
      // Swap two ranges.
      if (b.length < 4) return b;
      const c = Buffer.from(b);
      const n = 1 + rng.int(Math.min(16, b.length >> 1));
      const i = rng.int(b.length - n);
      const j = rng.int(b.length - n);
      const tmp = Buffer.from(c.subarray(i, i + n));
      c.copy(c, i, j, j + n);
      tmp.copy(c, j);
      return c;
    }
    case 9:
      return Buffer.from(Array.from({ length: rng.int(64) }, () => rng.int(256)));
    default: {
      // A length-ish byte set to a large value.
      if (!b.length) return b;
      const c = Buffer.from(b);
      c[at()] = 0x80 | rng.int(128);
      return c;
    }
  }
}

/** YAML scalars a text mutation swaps in for a value: empty, null, collections, anchors, tags, odd numbers. */
const ODD_SCALARS = [
  '',
  '~',
  'null',
  '[]',
  '{}',
  '-1',
  '99999999999999999999',
  '"x"',
  '&a [*a]',
  '!!binary AA==',
  'true',
  '0x10',
  '1e400',
  '"\\u0000"',
];

/** Text mutation: byte-level mutation of the UTF-8 (decoded back lossily) or a structural edit of lines. */
export function mutateText(rng: Rng, src: string, corpus: readonly string[] = []): string {
  if (rng.chance(0.5))
    return mutateBytes(
      rng,
      Buffer.from(src),
      corpus.map((c) => Buffer.from(c)),
    ).toString('utf8');
  const lines = src.split('\n');
  const i = rng.int(lines.length);
  switch (rng.int(6)) {
    case 0:
      lines.splice(i, 1);
      break;
    case 1:
      lines.splice(i, 0, lines[rng.int(lines.length)]!);
      break;
    case 2:
      lines[i] = '  '.repeat(rng.int(4)) + lines[i]!.trimStart();
      break;
    case 3: {
      const o = corpus.length ? rng.pick(corpus).split('\n') : lines;
      lines.splice(i, 0, ...o.slice(rng.int(o.length), rng.int(o.length) + 3));
      break;
    }
    case 4:
      lines[i] = lines[i]!.replace(/: .*/, `: ${rng.pick(ODD_SCALARS)}`);
      break;
    default:
      lines[i] = lines[i]!.slice(0, rng.int(lines[i]!.length + 1));
  }
  return lines.join('\n');
}

/** Counts outcomes by stable code so a run can show (and a test assert) that every bad case has a clear reason. */
export class Outcomes {
  readonly counts = new Map<string, number>();
  maxCaseMs = 0;
  slowest = '';
  add(raw: string): void {
    // Codes may quote fuzzed bytes: keep them printable so a TAP comment never spans lines.
    const code = raw.replace(/[^\x20-\x7e]/g, '?');
    this.counts.set(code, (this.counts.get(code) ?? 0) + 1);
  }
  time(label: string, ms: number): void {
    if (ms > this.maxCaseMs) {
      this.maxCaseMs = ms;
      this.slowest = label;
    }
  }
  total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }
  summary(): string {
    return [...this.counts]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
  }
}

/** Heap after a run may not exceed `factor` x the heap before plus slack (no GC under tap: loose on purpose). */
export function heapBound(before: number, factor = 3, slackBytes = 64 * 1024 * 1024): number {
  return before * factor + slackBytes;
}

/** A per-case bound well above any sane parse time: a case over it is a hang, not slowness. */
export const CASE_BOUND_MS = 5_000;
