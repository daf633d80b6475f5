import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { shebangNodeFlags } from './node-flags';

t.test('shebangNodeFlags reads the options of `#!/usr/bin/env -S node ...`', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-flags-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (first: string): string => {
    const f = path.join(dir, `f${fs.readdirSync(dir).length}.js`);
    fs.writeFileSync(f, `${first}\nconsole.log(1);\n`);
    return f;
  };
  t.same(shebangNodeFlags(file('#!/usr/bin/env -S node --a=1 --b')), ['--a=1', '--b']);
  t.same(shebangNodeFlags(file('#!/usr/bin/env node')), []);
  t.throws(() => shebangNodeFlags(file('#!/bin/sh')), /not a node shebang/);
  t.throws(() => shebangNodeFlags(file('"use strict";')), /not a node shebang/);
});
