export { loadConfig, redactConfig, parseDuration, ConfigError, flagName, isLoopback } from './load';
export type { LoadInput } from './load';
export type { DaemonConfig, XdsConfig, CaConfig, AuthConfig, AdminConfig, PeeringConfig, RuntimeConfig } from './types';
export { OPTIONS } from './schema';
export type { OptionSpec } from './schema';
export { optionsHelp } from './help';
export { EASTWEST_OPTIONS, loadEastwestConfig, stripScheme } from './eastwest';
export type { EastwestConfig } from './eastwest';
export { VERSION } from './version';
