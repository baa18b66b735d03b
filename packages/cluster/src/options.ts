/**
 * Options of {@link RedisStore}, their defaults and their validation. Invalid options throw a
 * `TypeError` that says what was expected and what was given.
 */
import type { RedisOptions } from 'ioredis';
import { randomId } from '@msghub/messagehub';
import type { ClusterError } from './errors.js';

/** Options of {@link RedisStore}. Every field is optional. */
export interface RedisStoreOptions {
  /** Where Redis is: a `redis://host:port` URL or ioredis options. @default 'redis://127.0.0.1:6379' */
  redis?: string | RedisOptions;
  /** The start of every key, so that several clusters can share one Redis. @default 'msghub' */
  prefix?: string;
  /** Events each room's stream keeps (at least every room's `historySize`); resume reaches this far back. @default 1024 */
  retain?: number;
  /**
   * How long a command may wait for Redis (while it is unreachable or paused) before it fails. An
   * append that fails stops its room (`STORE_FAILED`): its publishers get an error, never an `ok`.
   * @default 5000
   */
  commandTimeoutMs?: number;
  /** How long one blocking read of the followed streams waits before it looks again. @default 5000 */
  blockMs?: number;
  /** Entries read per stream per read. @default 1000 */
  readCount?: number;
  /** Interval of this node's heartbeat, and of its look for dead nodes. @default 1000 */
  heartbeatMs?: number;
  /** A node that has not beaten for this long is dead: a survivor removes its sessions. @default 5000 */
  nodeTimeoutMs?: number;
  /** This node's id, unique in the cluster. @default 128 random bits */
  nodeId?: string;
  /** Errors with no caller: a malformed stream entry, Redis going away and coming back. @default console.error */
  onError?: (error: ClusterError | Error) => void;
}

export interface ResolvedRedisStoreOptions {
  readonly redis: string | RedisOptions;
  readonly prefix: string;
  readonly retain: number;
  readonly commandTimeoutMs: number;
  readonly blockMs: number;
  readonly readCount: number;
  readonly heartbeatMs: number;
  readonly nodeTimeoutMs: number;
  readonly nodeId: string;
  readonly onError: (error: ClusterError | Error) => void;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `${JSON.stringify(value)} (string)`;
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return `${String(value)} (${typeof value})`;
}

function integer(name: string, value: unknown, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`Expected \`${name}\` to be an integer >= ${min}, got ${describe(value)}`);
  }
  return value;
}

function text(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length === 0 || /[\s{}]/.test(value)) {
    throw new TypeError(`Expected \`${name}\` to be a non-empty string without spaces or braces, got ${describe(value)}`);
  }
  return value;
}

/** Validates `options` and fills in the defaults. */
export function resolveRedisStoreOptions(options: RedisStoreOptions): ResolvedRedisStoreOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`Expected options to be an object, got ${describe(options)}`);
  const { redis = 'redis://127.0.0.1:6379', onError = console.error } = options;
  if (typeof redis === 'string' ? !/^rediss?:\/\//.test(redis) : typeof redis !== 'object' || redis === null) {
    throw new TypeError(`Expected \`redis\` to be a redis:// URL or ioredis options, got ${describe(redis)}`);
  }
  if (typeof onError !== 'function') throw new TypeError(`Expected \`onError\` to be a function, got ${describe(onError)}`);
  const heartbeatMs = integer('heartbeatMs', options.heartbeatMs, 10, 1000);
  const nodeTimeoutMs = integer('nodeTimeoutMs', options.nodeTimeoutMs, 1, 5000);
  if (nodeTimeoutMs <= heartbeatMs) {
    throw new TypeError(`Expected \`nodeTimeoutMs\` to be more than \`heartbeatMs\` (${heartbeatMs}), got ${nodeTimeoutMs}`);
  }
  return {
    redis,
    prefix: text('prefix', options.prefix, 'msghub'),
    retain: integer('retain', options.retain, 1, 1024),
    commandTimeoutMs: integer('commandTimeoutMs', options.commandTimeoutMs, 1, 5000),
    blockMs: integer('blockMs', options.blockMs, 1, 5000),
    readCount: integer('readCount', options.readCount, 1, 1000),
    heartbeatMs,
    nodeTimeoutMs,
    nodeId: text('nodeId', options.nodeId, randomId()),
    onError,
  };
}
