import * as fs from 'node:fs';

/**
 * The node options the daemon runs with, read from the first line of the CLI (cmd/ambientd/main.ts, kept by tsc
 * in dist/cmd/ambientd/main.js): `#!/usr/bin/env -S node <options>`. That line is their one source of truth: the
 * npm bin (and so the systemd unit) runs it through the kernel, bin/ambientd and tools/run-daemon.sh read it with
 * the shell, and the bench and the e2e fixtures read it here, so what they run is what ships. The container's
 * ENTRYPOINT repeats them (an exec-form ENTRYPOINT has no shell); e2e/ship/package.test.ts checks they agree.
 * They are V8 options node accepts only on its own command line (not in NODE_OPTIONS, not at run time).
 */
export function shebangNodeFlags(file: string): string[] {
  const first = fs.readFileSync(file, 'utf8').split('\n', 1)[0]!;
  const m = /^#!\/usr\/bin\/env(?: -S)? node((?: \S+)*)$/.exec(first);
  if (!m) throw new Error(`${file}: first line is not a node shebang: ${first}`);
  return m[1]!.split(' ').filter(Boolean);
}
