import { closeSync, constants as FS, fstatSync, lstatSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import type { BigIntStats, Dirent } from 'node:fs';
import { lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import * as path from 'node:path';

/**
 * Listing and reading of the registry directory, with every failure kept
 * apart from "not there": a directory or file that could not be read is
 * reported as failed (its last good objects stay), and only a successful
 * listing that no longer names a file lets the caller remove it.
 */

export const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/**
 * What a watch event's path under `root` can be, by its name alone (no I/O): a manifest file; a directory
 * ('maybe-dir': a name without an extension, which only a listing can tell); or nothing to read (outside the root,
 * hidden — an editor's or an atomic writer's temporary file — or another extension).
 */
export function watchedPathKind(root: string, abs: string): 'manifest' | 'maybe-dir' | 'ignored' {
  const rel = path.relative(root, abs);
  if (rel.startsWith('..') || path.basename(abs).startsWith('.')) return 'ignored';
  const ext = path.extname(abs);
  if (MANIFEST_EXTENSIONS.has(ext.toLowerCase())) return 'manifest';
  return ext ? 'ignored' : 'maybe-dir';
}

export interface ListedFile {
  /** ino:size:mtime:ctime of the file read (the link target for an in-tree symlink). */
  stamp: string;
  /** The path to read: the file itself, or an in-tree symlink's resolved target. */
  readPath: string;
  size: number;
}

export interface DirListing {
  /** rel path -> file, for every manifest file listed and stat'ed. */
  files: Map<string, ListedFile>;
  /** Absolute paths of the directories listed (for watchers). */
  dirs: Set<string>;
  /** rel path ("." = the root) -> reason: could not be listed or stat'ed; what is known under it stays. */
  failed: Map<string, string>;
  /** rel path -> reason: refused by rule (a symlink leaving the directory). */
  refused: Map<string, string>;
  /** The directory's real path (symlinks resolved), when it could be resolved. */
  realRoot?: string;
}

const errText = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** Whether `p` is `root` or inside it (both real, absolute paths). */
export function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** Whether a file known at `rel` sits under a path that failed this round (so it must be kept, not removed). */
export function underFailed(rel: string, failed: ReadonlyMap<string, string>): boolean {
  if (failed.has('.') || failed.has(rel)) return true;
  for (let d = path.dirname(rel); d !== '.' && d !== '/' && d !== ''; d = path.dirname(d)) {
    if (failed.has(d)) return true;
  }
  return false;
}

/**
 * Lists the tree under `root` in name order (so "first wins" between files is
 * deterministic), skipping dot entries (editor swap files, ConfigMap mounts'
 * ..data twins). A symlink is followed only to a file inside the directory;
 * one that leaves it is refused; symlinked directories are not followed.
 */
export async function listTree(root: string): Promise<DirListing> {
  const out: DirListing = { files: new Map(), dirs: new Set(), failed: new Map(), refused: new Map() };
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch (e) {
    out.failed.set('.', `registry directory unreadable: ${errText(e)}`);
    return out;
  }
  out.realRoot = realRoot;
  await walk(root, realRoot, root, out);
  return out;
}

async function walk(root: string, realRoot: string, abs: string, out: DirListing): Promise<void> {
  const rel = path.relative(root, abs) || '.';
  let entries: Dirent[];
  try {
    entries = await readdir(abs, { withFileTypes: true });
  } catch (e) {
    out.failed.set(rel, `directory unreadable: ${errText(e)}`);
    return;
  }
  out.dirs.add(abs);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(abs, e.name);
    if (e.isDirectory()) {
      await walk(root, realRoot, p, out);
      continue;
    }
    if (!MANIFEST_EXTENSIONS.has(path.extname(e.name).toLowerCase())) continue;
    const r = await statFile(root, realRoot, p);
    const frel = path.relative(root, p);
    if (r.kind === 'file') out.files.set(frel, r.file);
    else if (r.kind === 'failed') out.failed.set(frel, r.reason);
    else if (r.kind === 'refused') out.refused.set(frel, r.reason);
    // Listed but gone at stat (removed mid-scan, or a dangling link): kept this round, settled by the next listing.
    else if (r.kind === 'absent')
      out.failed.set(frel, 'listed but not found (removed mid-scan, or a dangling symlink)');
  }
}

export type StatResult =
  | { kind: 'file'; file: ListedFile }
  | { kind: 'absent' }
  | { kind: 'other' }
  | { kind: 'dir' }
  | { kind: 'failed'; reason: string }
  | { kind: 'refused'; reason: string };

/** Where a symlink's target leaves the registry directory, the refusal; else undefined. */
function escapes(root: string, realRoot: string, abs: string, target: string): StatResult | undefined {
  if (inside(realRoot, target)) return undefined;
  return {
    kind: 'refused',
    reason: `symlink leaves the registry directory (${path.relative(root, abs)} -> ${target})`,
  };
}

/** What a stat names: a regular file (read at `readPath`), a directory, or something else. */
function classify(st: BigIntStats, readPath: string): StatResult {
  if (st.isDirectory()) return { kind: 'dir' };
  if (!st.isFile()) return { kind: 'other' };
  return { kind: 'file', file: { stamp: stampOf(st), readPath, size: Number(st.size) } };
}

function statFailure(e: unknown): StatResult {
  const code = (e as NodeJS.ErrnoException).code;
  // ENOENT from a stat is not proof of removal (the directory may have vanished): the caller confirms by listing.
  if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'absent' };
  return { kind: 'failed', reason: `unreadable: ${errText(e)}` };
}

/** Stats one manifest path (lstat semantics for the link itself, then its target if it is an in-tree symlink). */
export async function statFile(root: string, realRoot: string, abs: string): Promise<StatResult> {
  try {
    const st = await lstat(abs, { bigint: true });
    if (!st.isSymbolicLink()) return classify(st, abs);
    const target = await realpath(abs);
    // In-tree links to directories are not followed: the target is walked where it really is.
    const tst = escapes(root, realRoot, abs, target) ?? classify(await stat(target, { bigint: true }), target);
    return tst.kind === 'dir' ? { kind: 'other' } : tst;
  } catch (e) {
    return statFailure(e);
  }
}

function stampOf(st: { ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }): string {
  return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/**
 * statFile without thread-pool round trips, for the watch path's one-file
 * re-check: each async fs call waits for a loop wake-up, which on a busy host
 * was most of a single edit's file-write -> ztunnel latency.
 */
export function statFileSync(root: string, realRoot: string, abs: string): StatResult {
  try {
    const st = lstatSync(abs, { bigint: true });
    if (!st.isSymbolicLink()) return classify(st, abs);
    const target = realpathSync(abs);
    const tst = escapes(root, realRoot, abs, target) ?? classify(statSync(target, { bigint: true }), target);
    return tst.kind === 'dir' ? { kind: 'other' } : tst;
  } catch (e) {
    return statFailure(e);
  }
}

export type ReadResult =
  { kind: 'text'; text: string } | { kind: 'too-big'; size: number } | { kind: 'failed'; reason: string };

/**
 * Reads a manifest without following a symlink in its last component
 * (O_NOFOLLOW: a file swapped for a link after the scan is not read through
 * it) and without reading past the byte cap.
 */
export async function readBounded(readPath: string, maxBytes: number): Promise<ReadResult> {
  let fh;
  try {
    fh = await open(readPath, FS.O_RDONLY | FS.O_NOFOLLOW);
    const size = (await fh.stat()).size;
    if (size > maxBytes) return { kind: 'too-big', size };
    const buf = Buffer.allocUnsafe(size + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      // Grew while being read: a writer is mid-way; this round fails and the next scan reads the new stamp.
      if (n > size) return { kind: 'failed', reason: 'changed while being read' };
    }
    return { kind: 'text', text: buf.toString('utf8', 0, n) };
  } catch (e) {
    return { kind: 'failed', reason: `unreadable: ${errText(e)}` };
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** readBounded for small files, synchronously (tens of µs; see statFileSync). */
export function readBoundedSync(readPath: string, maxBytes: number): ReadResult {
  let fd: number | undefined;
  try {
    fd = openSync(readPath, FS.O_RDONLY | FS.O_NOFOLLOW);
    const size = fstatSync(fd).size;
    if (size > maxBytes) return { kind: 'too-big', size };
    const buf = Buffer.allocUnsafe(size + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, n);
      if (got === 0) break;
      n += got;
      if (n > size) return { kind: 'failed', reason: 'changed while being read' };
    }
    return { kind: 'text', text: buf.toString('utf8', 0, n) };
  } catch (e) {
    return { kind: 'failed', reason: `unreadable: ${errText(e)}` };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
