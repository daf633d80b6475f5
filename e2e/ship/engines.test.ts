import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './proc';

/** npm's own range matcher (a dependency of the toolchain; typed here by the one call used). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const semver = require('semver') as {
  satisfies(version: string, range: string): boolean;
  minVersion(range: string): { version: string } | null;
};

t.test(
  'every locked package supports the Node versions the project targets (npm ci warns EBADENGINE otherwise)',
  async (t) => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    const lock = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
    };
    const oldest = semver.minVersion(pkg.engines.node)!.version;
    t.equal(oldest, '20.19.0', 'the project targets Node 20 (package.json engines)');
    const refused = Object.entries(lock.packages)
      .filter(([k, v]) => k !== '' && !Array.isArray(v.engines) && v.engines?.node)
      .filter(
        ([, v]) =>
          !semver.satisfies(oldest, (v.engines as { node: string }).node) ||
          !semver.satisfies(process.version, (v.engines as { node: string }).node),
      )
      .map(([k, v]) => `${k}@${v.version} wants node ${(v.engines as { node: string }).node}`);
    t.same(refused, [], `all support node ${oldest} and ${process.version}`);
  },
);
