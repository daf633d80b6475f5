import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureIstiod } from './istiod-go';

const repoRoot = path.resolve(__dirname, '..', '..', '..');

t.test('tools/istio/ensure.sh refuses what is not the pinned istio/istio, with the reason', async (t) => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), `istio-ensure-${process.pid}-`));
  t.teardown(() => fs.rmSync(cache, { recursive: true, force: true }));
  const env: NodeJS.ProcessEnv = { ...process.env, AMBIENTD_ISTIO_CACHE: cache };
  delete env['ISTIO_SRC'];
  const none = ensureIstiod(repoRoot, env);
  t.type(none, 'string');
  t.match(none, /no istiod benchmarks cached .* set ISTIO_SRC to istio\/istio at [0-9a-f]{40}/);

  // A tree with a go.mod that is not the pinned commit's export: the blob manifest tells them apart.
  const fake = path.join(cache, 'fake-src');
  fs.mkdirSync(path.join(fake, 'pilot'), { recursive: true });
  fs.writeFileSync(path.join(fake, 'go.mod'), 'module istio.io/istio\n\ngo 1.26.0\n');
  fs.writeFileSync(path.join(fake, 'pilot', 'x.go'), 'package pilot\n');
  const wrong = ensureIstiod(repoRoot, { ...env, ISTIO_SRC: fake });
  t.match(wrong, /ISTIO_SRC is not istio\/istio at [0-9a-f]{40} \(file manifest [0-9a-f]{64}/);
  // Nothing was cached from the refused tree.
  const commitDir = fs.readdirSync(cache).filter((d) => /^[0-9a-f]{40}$/.test(d));
  for (const d of commitDir) t.notOk(fs.existsSync(path.join(cache, d, 'src')), 'no source cached');
});
