import t from 'tap';
import { shebangNodeFlags } from '../../cmd/ambientd/node-flags';
import { MAIN, daemonNodeArgs } from './daemon-proc';

t.test("a bench daemon runs with the CLI's shebang options, so the bench measures what ships", async (t) => {
  const shipped = shebangNodeFlags(MAIN);
  t.match(shipped.join(' '), /--initial-old-space-size=\d+/, 'the CLI ships with an old generation floor');
  t.same(daemonNodeArgs(), ['--expose-gc', ...shipped]);
  t.same(daemonNodeArgs(['--cpu-prof']), ['--expose-gc', ...shipped, '--cpu-prof'], "a rig's options come last");
});
