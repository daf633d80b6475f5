/** Splits a validated "host:port" / "[v6]:port" listen string (pkg/config validated it). */
export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
  return { host: host || '0.0.0.0', port: Number(listen.slice(i + 1)) };
}
