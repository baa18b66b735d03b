#!/usr/bin/env node
// `msghub-server`: runs the compiled CLI in dist/. This file is committed so that `pnpm install` can
// link the command before the workspace is built (the root `prepare` script builds it).
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/cli.js', import.meta.url);
try {
  await import(cli.href);
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes(fileURLToPath(cli))) throw error;
  console.error('msghub-server: not built yet: run `npx -y pnpm@10 build` in the msghub checkout');
  process.exit(1);
}
