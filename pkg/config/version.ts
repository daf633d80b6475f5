/** Kept equal to package.json "version" (pkg/config/version.test.ts checks it). */
export const VERSION = '0.1.0';
