// The version, from package.json at build time (esbuild inlines the JSON in the single executable).
import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
