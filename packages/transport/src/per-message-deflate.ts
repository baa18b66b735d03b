/**
 * The `perMessageDeflate` option: WebSocket permessage-deflate (RFC 7692), off by default. The
 * names follow `ws`'s own option; what differs is said on each field. Compression happens per
 * socket (each has its own zlib stream), so a room event that is encoded once is compressed once
 * per connection: docs/transport.md weighs the bytes saved against that CPU.
 */
import type { PerMessageDeflateOptions as WsDeflateOptions } from 'ws';

/** `perMessageDeflate: { ... }` of {@link HubServerOptions}. */
export interface PerMessageDeflateOptions {
  /**
   * Frames shorter than this many bytes go uncompressed (pings, `ok`s and small events gain little
   * and would cost a zlib call each). Unlike `ws`'s `threshold`, it applies with context takeover
   * too. @default 128
   */
  threshold?: number;
  /** zlib compression level, 0 (none) to 9 (smallest, slowest). @default 1 */
  level?: number;
  /**
   * zlib memory level, 1 to 9: the deflate state of each connection is about
   * `2^(serverMaxWindowBits + 2) + 2^(memLevel + 9)` bytes. @default 8
   */
  memLevel?: number;
  /** The server's LZ77 window, 9 to 15 bits (smaller: less memory per connection, less gain). @default 15 */
  serverMaxWindowBits?: number;
  /**
   * Compress each message on its own, with no memory of earlier ones: no deflate state is kept
   * between messages, at the price of most of the gain on small chat frames. @default false
   */
  serverNoContextTakeover?: boolean;
  /** Ask clients to compress each message on its own (less inflate state on the server). @default false */
  clientNoContextTakeover?: boolean;
}

/** `true` (the defaults), `false` (off) or the options. */
export type PerMessageDeflateOption = boolean | PerMessageDeflateOptions;

export interface ResolvedPerMessageDeflate {
  readonly threshold: number;
  readonly level: number;
  readonly memLevel: number;
  readonly serverMaxWindowBits: number;
  readonly serverNoContextTakeover: boolean;
  readonly clientNoContextTakeover: boolean;
}

const DEFAULTS: ResolvedPerMessageDeflate = Object.freeze({
  threshold: 128,
  level: 1,
  memLevel: 8,
  serverMaxWindowBits: 15,
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
});

const KNOWN = new Set(Object.keys(DEFAULTS));

/**
 * Validates the `perMessageDeflate` option. @returns false when off
 * @throws {TypeError} saying what was expected and what was given
 */
export function resolvePerMessageDeflate(value: unknown): ResolvedPerMessageDeflate | false {
  if (value === undefined || value === false) return false;
  if (value === true) return DEFAULTS;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`Expected \`perMessageDeflate\` to be a boolean or an object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  }
  const given = value as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!KNOWN.has(key)) throw new TypeError(`Expected \`perMessageDeflate\` to have only ${[...KNOWN].join(', ')}, got ${JSON.stringify(key)}`);
  }
  return {
    threshold: integer('threshold', given['threshold'], 0, 64 * 1024 * 1024, DEFAULTS.threshold),
    level: integer('level', given['level'], 0, 9, DEFAULTS.level),
    memLevel: integer('memLevel', given['memLevel'], 1, 9, DEFAULTS.memLevel),
    serverMaxWindowBits: integer('serverMaxWindowBits', given['serverMaxWindowBits'], 9, 15, DEFAULTS.serverMaxWindowBits),
    serverNoContextTakeover: boolean('serverNoContextTakeover', given['serverNoContextTakeover'], DEFAULTS.serverNoContextTakeover),
    clientNoContextTakeover: boolean('clientNoContextTakeover', given['clientNoContextTakeover'], DEFAULTS.clientNoContextTakeover),
  };
}

/** The `perMessageDeflate` option of `ws`'s server for these settings. */
export function wsDeflateOptions(options: ResolvedPerMessageDeflate): WsDeflateOptions {
  return {
    // The adapter decides per frame (see `threshold`); ws would apply its own only without context takeover.
    threshold: 0,
    zlibDeflateOptions: { level: options.level, memLevel: options.memLevel },
    serverMaxWindowBits: options.serverMaxWindowBits,
    serverNoContextTakeover: options.serverNoContextTakeover,
    clientNoContextTakeover: options.clientNoContextTakeover,
  };
}

function integer(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new TypeError(`Expected \`perMessageDeflate.${name}\` to be an integer from ${min} to ${max}, got ${String(value)} (${typeof value})`);
  }
  return value;
}

function boolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`Expected \`perMessageDeflate.${name}\` to be a boolean, got ${String(value)} (${typeof value})`);
  return value;
}
