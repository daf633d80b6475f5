/**
 * JSON another program wrote (ztunnel's /config_dump, the daemon's debug endpoints), read field by field in
 * tests. Typed loosely on purpose: a test that guesses a field wrong fails its assertion, and spelling out
 * ztunnel's whole dump format here would duplicate ztunnel's schema.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the one loose JSON type of the e2e harness (above)
export type LooseJson = Record<string, any>;
