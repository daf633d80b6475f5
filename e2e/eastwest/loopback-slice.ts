import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Where claims live: one file per slice, named by its second octet, holding the claiming process's pid. */
const CLAIMS = path.join(os.tmpdir(), 'ambientd-e2e-loopback');
/** Second octets handed out: 127.20 … 127.249 (127.0.x is left to tests with fixed addresses). */
const FIRST = 20;
const COUNT = 230;
const mine: string[] = [];

/**
 * 127.<a>: a slice of loopback for one fixture's pod IPs (127.<a>.0.<i>), not handed to any other live process.
 * Test files run in parallel processes and their stand-ins listen on fixed ports (15008) at these addresses, so a
 * slice picked at random by two of them at once made one fail with EADDRINUSE. A slice is claimed by creating its
 * file exclusively ('wx'); a claim whose process is gone is taken over; this process's claims are removed at exit.
 */
export function runBase(): string {
  fs.mkdirSync(CLAIMS, { recursive: true });
  const start = Math.floor(Math.random() * COUNT);
  for (let k = 0; k < COUNT; k++) {
    const a = FIRST + ((start + k) % COUNT);
    const file = path.join(CLAIMS, String(a));
    if (claim(file)) {
      if (mine.length === 0) process.once('exit', release);
      mine.push(file);
      return `127.${a}`;
    }
  }
  throw new Error(`every loopback slice 127.${FIRST}-${FIRST + COUNT - 1} is claimed by a live process (${CLAIMS})`);
}

/** Creates `file` exclusively with this pid; takes it over when the pid in it is no longer running. */
function claim(file: string): boolean {
  try {
    fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const owner = Number(fs.readFileSync(file, 'utf8'));
  if (owner === process.pid || alive(owner)) return false;
  fs.rmSync(file, { force: true });
  try {
    fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    return false; // another process took it over first
  }
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function release(): void {
  for (const f of mine) fs.rmSync(f, { force: true });
}
