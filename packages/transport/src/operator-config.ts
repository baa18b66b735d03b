/**
 * The main job's operator flags: `--metrics` (Prometheus at `/metrics`) and `--admin` (the admin
 * view at `/admin`), with their tokens from the environment (a flag would show the token to anyone
 * who can list processes).
 */
import { randomBytes } from 'node:crypto';
import { checkToken, isLoopbackHost } from './http-auth.js';
import type { MetricsOptions } from './prometheus.js';

/** The admin view of the main job, and whether its token was made up at start (to be printed). */
export interface AdminConfig {
  readonly token: string;
  readonly generated: boolean;
}

/** The flags parsed by `parseArgs` that this module reads. */
export interface OperatorFlags {
  readonly metrics?: boolean | undefined;
  readonly 'metrics-per-room'?: string | undefined;
  readonly admin?: boolean | undefined;
}

/**
 * `--metrics` or `MSGHUB_METRICS=1`; the token from `MSGHUB_METRICS_TOKEN`; per-room series from
 * `--metrics-per-room <n>` or `MSGHUB_METRICS_PER_ROOM`.
 * @throws {TypeError} for a bad value, or for metrics beyond loopback (`host`) without a token
 */
export function metricsConfig(flags: OperatorFlags, env: NodeJS.ProcessEnv, host: string): MetricsOptions | false {
  if (flags.metrics !== true && !envFlag('MSGHUB_METRICS', env['MSGHUB_METRICS'])) return false;
  const token = nonEmpty(env['MSGHUB_METRICS_TOKEN']);
  if (token === undefined && !isLoopbackHost(host)) {
    throw new TypeError(`Expected MSGHUB_METRICS_TOKEN to be set: --metrics on ${host}, beyond loopback, needs a token`);
  }
  const perRoomText = flags['metrics-per-room'] ?? env['MSGHUB_METRICS_PER_ROOM'];
  const perRoom = perRoomText === undefined || perRoomText === '' ? 0 : Number(perRoomText);
  if (!Number.isSafeInteger(perRoom) || perRoom < 0) {
    throw new TypeError(`Expected --metrics-per-room to be a whole number, got ${JSON.stringify(perRoomText)}`);
  }
  return { ...(token === undefined ? {} : { token: checkToken('MSGHUB_METRICS_TOKEN', token) }), perRoom };
}

/**
 * `--admin` or `MSGHUB_ADMIN=1`; the token from `MSGHUB_ADMIN_TOKEN`, else a random one the main
 * job prints at start.
 * @throws {TypeError} for a bad value or a short token
 */
export function adminConfig(flags: OperatorFlags, env: NodeJS.ProcessEnv): AdminConfig | false {
  if (flags.admin !== true && !envFlag('MSGHUB_ADMIN', env['MSGHUB_ADMIN'])) return false;
  const token = nonEmpty(env['MSGHUB_ADMIN_TOKEN']);
  if (token === undefined) return { token: randomBytes(24).toString('base64url'), generated: true };
  return { token: checkToken('MSGHUB_ADMIN_TOKEN', token), generated: false };
}

/** An on/off environment variable: 1, true, 0, false or empty. */
export function envFlag(name: string, value: string | undefined): boolean {
  if (value === undefined || value === '' || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'true') return true;
  throw new TypeError(`Expected ${name} to be 1, true, 0 or false, got ${JSON.stringify(value)}`);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
