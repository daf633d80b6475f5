import { OPTIONS, type OptionSpec } from './schema';
import { flagName } from './load';

/** `ambientd serve --help` text, generated from the option table. */
export function optionsHelp(table: readonly OptionSpec[] = OPTIONS): string {
  const lines: string[] = [];
  for (const o of table) {
    const env = o.env?.length ? ` [env ${o.env.join(', ')}]` : '';
    const def = Array.isArray(o.default)
      ? o.default.join(',')
      : o.kind === 'map'
        ? Object.entries(o.default as Record<string, string>)
            .map(([k, v]) => `${k}=${v}`)
            .join(',')
        : String(o.default);
    lines.push(
      `  --${flagName(o)}=<${o.kind === 'enum' ? o.values!.join('|') : o.kind === 'map' ? 'key=value,...' : o.kind}>`,
    );
    lines.push(`      ${o.help} (default: ${o.secret ? '""' : JSON.stringify(def)})${env}`);
  }
  return lines.join('\n');
}
