#!/usr/bin/env node
/**
 * `msghub-server`: runs the main job (see main.ts) until SIGINT or SIGTERM, then shuts down
 * gracefully: stop accepting, `bye` to every client, rooms closed, the event log flushed.
 */
import { USAGE, parseMainArgs, startMain, type MainJob } from './main.js';

let job: MainJob | undefined;

function processOnSignal(signal: NodeJS.Signals): void {
  if (job === undefined) process.exit(1);
  console.log(`msghub: ${signal}, shutting down`);
  // A second signal while shutting down forces the exit.
  process.once(signal, () => process.exit(1));
  void job.close().then(() => {
    console.log('msghub: stopped');
    process.exit(0);
  });
}

async function run(): Promise<void> {
  let config;
  try {
    config = parseMainArgs(process.argv.slice(2), process.env);
  } catch (error) {
    console.error(`msghub: ${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (config === undefined) {
    process.stdout.write(USAGE);
    return;
  }
  job = await startMain(config);
  const { ws, tcp } = job.addresses;
  console.log(`msghub: WebSocket ws://${ws?.address}:${ws?.port}${config.wsPath ?? '/'}`);
  console.log(`msghub: TCP ${tcp?.address}:${tcp?.port}`);
  console.log(`msghub: event log ${config.log ?? '(off)'}`);
  process.once('SIGINT', processOnSignal);
  process.once('SIGTERM', processOnSignal);
}

run().catch((error: unknown) => {
  console.error('msghub: failed to start:', error);
  process.exit(1);
});
