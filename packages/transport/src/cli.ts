#!/usr/bin/env node
/**
 * `msghub-server`: runs the main job (see main.ts) until SIGINT or SIGTERM, then shuts down
 * gracefully: stop accepting, `bye` to every client, rooms closed, the event log flushed.
 */
import type { AddressInfo } from 'node:net';
import { DEV_TOKEN_PATH } from './dev-tokens.js';
import { PortUnavailableError, USAGE, parseMainArgs, startMain, type MainJob } from './main.js';

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
  // Before anything is printed: whoever reads the addresses may signal at once.
  process.once('SIGINT', processOnSignal);
  process.once('SIGTERM', processOnSignal);
  const { ws, tcp } = job.addresses;
  console.log(`msghub: WebSocket ws://${ws?.address}:${ws?.port}${config.wsPath ?? '/'}`);
  if (config.websocket === false) console.log('msghub: WebSocket upgrades refused (--no-websocket)');
  console.log(`msghub: TCP ${tcp?.address}:${tcp?.port}`);
  console.log(`msghub: event log ${config.log ?? '(off)'}`);
  if (config.redis !== undefined) {
    const { protocol, host } = new URL(config.redis);
    console.log(`msghub: cluster node on ${protocol}//${host}`);
  }
  if (ws !== undefined && config.allowedOrigins !== undefined) {
    console.log(`msghub: pages allowed to connect: ${config.allowedOrigins.join(', ') || '(none)'}`);
  }
  if (ws !== undefined && config.perMessageDeflate !== undefined && config.perMessageDeflate !== false) {
    console.log(`msghub: WebSocket compression (permessage-deflate) for frames of ${config.perMessageDeflate.threshold ?? 128} bytes or more`);
  }
  if (ws !== undefined && config.assets['/'] !== undefined) {
    console.log(`msghub: chat page at ${httpBase(ws)}/?user=ada`);
  }
  if (ws !== undefined && config.apiKey !== undefined) {
    console.log(`msghub: HTTP API at ${httpBase(ws)}/rooms/:room/… and /users/:user/send (bearer token: the API key)`);
  }
  if (ws !== undefined && config.devTokens !== undefined && config.devTokens !== false) {
    console.log(`msghub: dev tokens at POST ${httpBase(ws)}${DEV_TOKEN_PATH} {"user":"ada"} (development only)`);
  }
  if (ws !== undefined && config.metrics !== undefined && config.metrics !== false) {
    console.log(`msghub: metrics at ${httpBase(ws)}/metrics${config.metrics.token === undefined ? '' : ' (bearer token: MSGHUB_METRICS_TOKEN)'}`);
  }
  if (ws !== undefined && config.admin !== undefined && config.admin !== false) {
    const token = config.admin.generated ? `token ${config.admin.token}; set MSGHUB_ADMIN_TOKEN to choose one` : 'token: MSGHUB_ADMIN_TOKEN';
    console.log(`msghub: admin view at ${httpBase(ws)}/admin (${token})`);
  }
}

/** The HTTP base URL a browser on this machine reaches a bound address at. */
function httpBase({ address, family, port }: AddressInfo): string {
  if (address === '0.0.0.0') return `http://127.0.0.1:${port}`;
  if (address === '::') return `http://[::1]:${port}`;
  return family === 'IPv6' ? `http://[${address}]:${port}` : `http://${address}:${port}`;
}

run().catch((error: unknown) => {
  // A port someone else holds is a situation, not a bug: one line, no stack trace.
  if (error instanceof PortUnavailableError) console.error(`msghub: ${error.message}`);
  else console.error('msghub: failed to start:', error);
  process.exit(1);
});
