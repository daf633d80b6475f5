/** One row of the option table (schema.ts): a setting's path, env names, flag, default and parsing. */
/** map: string → string; file form a YAML mapping, env/flag form "k1=v1,k2=v2". */
export type Kind = 'string' | 'int' | 'bool' | 'duration' | 'list' | 'enum' | 'map';

export interface OptionSpec {
  /** Dotted path in the config object / YAML file. */
  path: string;
  kind: Kind;
  default: unknown;
  env?: readonly string[];
  /** Long flag name without dashes; defaults to the path with dots as dashes. */
  flag?: string;
  help: string;
  values?: readonly string[];
  min?: number;
  max?: number;
  secret?: boolean;
}
