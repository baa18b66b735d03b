#!/usr/bin/env node
// Builds the browser bundle: one ESM file (dist/msghub.js) from the universal entry, rxjs
// included, no Node modules. A plain HTML page can `import { createClient } from '/msghub.js'`.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Builds the bundle and returns its path. */
export async function bundle(outfile = join(root, 'dist', 'msghub.js')) {
  await build({
    entryPoints: [join(root, 'src', 'index.ts')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [forbidNodeModules],
  });
  return outfile;
}

const forbidNodeModules = {
  name: 'forbid-node-modules',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^(ws|net|node:.*)$/ }, (args) => ({
      errors: [{ text: `${args.path} is Node-only and must not reach the browser bundle (imported by ${args.importer})` }],
    }));
  },
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await bundle();
  console.log(`bundled ${out}`);
}
