import * as fs from 'node:fs';

/**
 * Reads per-trust-domain root bundles (trust domain → PEM file) once, for
 * TrustDomainRoots. `setting` names the option in errors (e.g.
 * peering.trustBundles); the config loader has already checked each file holds
 * CA certificates, so what can still fail here is the read itself.
 */
export function readTrustBundles(setting: string, files: Readonly<Record<string, string>>): Map<string, string> {
  const bundles = new Map<string, string>();
  for (const [td, file] of Object.entries(files)) {
    try {
      bundles.set(td, fs.readFileSync(file, 'utf8'));
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      throw new Error(`${setting}[${JSON.stringify(td)}]: cannot read ${file}: ${why}`);
    }
  }
  return bundles;
}
