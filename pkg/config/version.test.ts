import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { VERSION } from './version';

t.test("VERSION is package.json's version (the CLI, peers' ClusterInfo and the package must agree)", (t) => {
  // Compiled to dist/pkg/config/: package.json is three folders up, in the source tree two.
  const up = [path.join(__dirname, '..', '..', '..'), path.join(__dirname, '..', '..')];
  const file = up.map((d) => path.join(d, 'package.json')).find((f) => fs.existsSync(f));
  t.ok(file, 'package.json found');
  const pkg = JSON.parse(fs.readFileSync(file!, 'utf8')) as { version: string };
  t.equal(VERSION, pkg.version);
  t.end();
});
