// A bench daemon's push pipeline as its Prometheus endpoint reports it (istiod's pilot_* metric names).
import * as fs from 'node:fs';
import * as http from 'node:http';

/** Mean debounce wait and build time of the daemon's pushes, from its Prometheus endpoint (address from its log). */
export async function daemonPipeline(
  logFile: string,
): Promise<{ debounceMs: number; buildMs: number; pushes: number }> {
  const m = /"metrics":"127\.0\.0\.1:(\d+)"/.exec(fs.readFileSync(logFile, 'utf8'));
  if (!m) return { debounceMs: NaN, buildMs: NaN, pushes: NaN };
  const text = await new Promise<string>((resolve, reject) => {
    http
      .get(`http://127.0.0.1:${m[1]}/metrics`, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  }).catch(() => '');
  const num = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
  const mean = (h: string) => (1000 * num(`${h}_sum`)) / num(`${h}_count`);
  return {
    debounceMs: mean('pilot_debounce_time'),
    buildMs: mean('pilot_pushcontext_init_seconds'),
    pushes: num('pilot_debounce_time_count'),
  };
}
