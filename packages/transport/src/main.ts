/**
 * The main job: a hub server on embedded defaults (no external service) with WebSocket and TCP
 * on configurable ports and every room kept in the datalog's file store: each event is committed
 * to the JSON-lines log before any client sees it, and rooms go on where they stopped after a
 * restart or a crash. `cli.ts` runs it; tests start it in a child process.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FileStore, type FsyncPolicy } from '@msghub/datalog';
import type { AssetSource } from './assets.js';
import type { DevTokensOption } from './dev-tokens.js';
import { FileOfflineQueue } from './file-offline-queue.js';
import { adminConfig, metricsConfig, type AdminConfig } from './operator-config.js';
import type { HubServerOptions } from './options.js';
import { OriginNotAllowedError, resolveAllowedOrigins } from './origins.js';
import type { PerMessageDeflateOptions } from './per-message-deflate.js';
import type { MetricsOptions } from './prometheus.js';
import type { DirectFrame } from './protocol.js';
import { HubServer, type ListenAddresses } from './server.js';

/** What the main job runs with. */
export interface MainConfig {
  readonly host: string;
  readonly wsPort: number;
  readonly tcpPort: number;
  readonly wsPath: string | undefined;
  /** Accept WebSocket upgrades; when false they are refused and clients use the HTTP carrier. @default true */
  readonly websocket?: boolean;
  /** The HTTP fallback carrier at `<ws path>/_http`. @default true */
  readonly http?: boolean;
  /** The event log (the rooms' file store), or undefined for rooms in memory only. */
  readonly log: string | undefined;
  /** When the log calls fsync; see docs/datalog.md for what each policy survives. @default 'batch' */
  readonly fsync?: FsyncPolicy;
  readonly trustClientUser: boolean;
  readonly assets: Readonly<Record<string, AssetSource>>;
  /** Development only: `POST /dev/token` hands out connect tokens. @default false */
  readonly devTokens?: DevTokensOption;
  /** Prometheus metrics at `/metrics`. @default false */
  readonly metrics?: MetricsOptions | false;
  /** The admin view at `/admin`. @default false */
  readonly admin?: AdminConfig | false;
  /** The key of the HTTP API for backends (`/rooms/…`, `/users/…`), or undefined for no API. @default undefined */
  readonly apiKey?: string;
  /** Run as a node of a cluster: rooms live in this Redis (`@msghub/cluster`), served by every node. */
  readonly redis?: string | undefined;
  /** The origins whose pages may connect; undefined for same-origin. @default undefined */
  readonly allowedOrigins?: readonly string[] | undefined;
  /** WebSocket permessage-deflate. @default false */
  readonly perMessageDeflate?: PerMessageDeflateOptions | false;
}

export const USAGE = `Usage: msghub-server [options]

  --host <host>        interface to bind          (MSGHUB_HOST, default 127.0.0.1)
  --ws-port <port>     WebSocket port, 0 = any    (MSGHUB_WS_PORT, default 8080)
  --tcp-port <port>    TCP port, 0 = any          (MSGHUB_TCP_PORT, default 8081)
  --ws-path <path>     accept WebSocket only here (MSGHUB_WS_PATH, default any path)
  --no-websocket       refuse WebSocket upgrades: clients fall back to the HTTP carrier
                       (MSGHUB_WEBSOCKET=0)
  --no-http            no HTTP fallback carrier at <ws path>/_http (MSGHUB_HTTP=0)
  --log <file>         event log (JSON lines)     (MSGHUB_LOG, default ./log/events.log);
                       unacknowledged direct messages are kept in <file>.offline
  --fsync <policy>     never | batch | event      (MSGHUB_FSYNC, default batch)
  --no-log             keep rooms in memory only (lost on restart)
  --redis <url>        run as a node of a cluster: rooms live in this Redis and any node
                       serves any room (MSGHUB_REDIS, e.g. redis://127.0.0.1:6379; needs
                       @msghub/cluster); not with --log
  --require-token      refuse hello.user; accept connect tokens only
  --asset <url=file>   serve a file over HTTP on the WebSocket port (repeatable)
  --dev-tokens         development only: POST /dev/token {"user":"ada"} returns a connect
                       token, {"user":"ada","rooms":["lobby"]} one bound to those rooms
                       (MSGHUB_DEV_TOKENS=1; MSGHUB_DEV_TOKENS_SECRET requires that
                       value in the x-msghub-dev-secret header)
  --metrics            Prometheus metrics at GET /metrics on the WebSocket port (MSGHUB_METRICS=1;
                       MSGHUB_METRICS_TOKEN requires it as a bearer token, and is needed when
                       --host is not loopback)
  --metrics-per-room <n>  series for the n rooms with the most sessions (MSGHUB_METRICS_PER_ROOM)
  --admin              the admin view at /admin on the WebSocket port (MSGHUB_ADMIN=1); its token
                       is MSGHUB_ADMIN_TOKEN, else a random one printed at start
  --api-key-env <NAME> the HTTP API for backends (/rooms/:room/history, /rooms/:room/publish,
                       /users/:user/send) on the WebSocket port, its key read from the
                       environment variable NAME (default MSGHUB_API_KEY; off when unset)
  --allowed-origin <origin>  a web page origin allowed to connect, e.g. https://chat.example
                       (repeatable; MSGHUB_ALLOWED_ORIGINS, comma-separated; '*' = any page;
                       default: only pages this server serves)
  --per-message-deflate  compress WebSocket messages (permessage-deflate) for clients that offer
                       it (MSGHUB_PER_MESSAGE_DEFLATE=1): fewer bytes, more CPU and memory
  --per-message-deflate-threshold <bytes>  leave shorter frames uncompressed
                       (MSGHUB_PER_MESSAGE_DEFLATE_THRESHOLD, default 128)
  --help               print this and exit
`;

const POLICIES: readonly FsyncPolicy[] = ['never', 'batch', 'event'];

function fsyncPolicy(value: string | undefined): FsyncPolicy {
  if (value === undefined || value === '') return 'batch';
  if (!(POLICIES as readonly string[]).includes(value)) {
    throw new TypeError(`Expected --fsync to be never, batch or event, got ${JSON.stringify(value)}`);
  }
  return value as FsyncPolicy;
}

function port(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0 || parsed > 65535) {
    throw new TypeError(`Expected ${name} to be a port number 0-65535, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

function assetPairs(pairs: readonly string[]): Record<string, AssetSource> {
  const assets: Record<string, AssetSource> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0 || !pair.startsWith('/')) throw new TypeError(`Expected --asset /url=file, got ${JSON.stringify(pair)}`);
    assets[pair.slice(0, at)] = resolve(pair.slice(at + 1));
  }
  return assets;
}

/**
 * Reads the configuration from flags, then the environment, then the defaults.
 * @returns undefined when `--help` was asked for
 * @throws {TypeError} for an unknown flag or a bad value
 */
export function parseMainArgs(argv: readonly string[], env: NodeJS.ProcessEnv): MainConfig | undefined {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      host: { type: 'string' },
      'ws-port': { type: 'string' },
      'tcp-port': { type: 'string' },
      'ws-path': { type: 'string' },
      'no-websocket': { type: 'boolean' },
      'no-http': { type: 'boolean' },
      log: { type: 'string' },
      fsync: { type: 'string' },
      'no-log': { type: 'boolean' },
      redis: { type: 'string' },
      'require-token': { type: 'boolean' },
      asset: { type: 'string', multiple: true },
      'dev-tokens': { type: 'boolean' },
      metrics: { type: 'boolean' },
      'metrics-per-room': { type: 'string' },
      admin: { type: 'boolean' },
      'api-key-env': { type: 'string' },
      'allowed-origin': { type: 'string', multiple: true },
      'per-message-deflate': { type: 'boolean' },
      'per-message-deflate-threshold': { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help === true) return undefined;
  const host = values.host ?? env['MSGHUB_HOST'] ?? '127.0.0.1';
  const redis = values.redis ?? (env['MSGHUB_REDIS'] || undefined);
  if (redis !== undefined && !/^rediss?:\/\//.test(redis)) {
    throw new TypeError(`Expected --redis to be a redis:// URL, got ${JSON.stringify(redis)}`);
  }
  // A room lives in one store: a cluster's rooms live in Redis, not in a log file.
  if (redis !== undefined && values.log !== undefined) throw new TypeError('Expected either --redis or --log, got both');
  return {
    host,
    wsPort: port('--ws-port', values['ws-port'] ?? env['MSGHUB_WS_PORT'], 8080),
    tcpPort: port('--tcp-port', values['tcp-port'] ?? env['MSGHUB_TCP_PORT'], 8081),
    wsPath: values['ws-path'] ?? env['MSGHUB_WS_PATH'],
    websocket: values['no-websocket'] !== true && env['MSGHUB_WEBSOCKET'] !== '0',
    http: values['no-http'] !== true && env['MSGHUB_HTTP'] !== '0',
    log: values['no-log'] === true || redis !== undefined ? undefined : resolve(values.log ?? env['MSGHUB_LOG'] ?? 'log/events.log'),
    fsync: fsyncPolicy(values.fsync ?? env['MSGHUB_FSYNC']),
    trustClientUser: values['require-token'] !== true,
    assets: assetPairs(values.asset ?? []),
    devTokens: devTokens(values['dev-tokens'] === true || flagSet('MSGHUB_DEV_TOKENS', env['MSGHUB_DEV_TOKENS']), env['MSGHUB_DEV_TOKENS_SECRET']),
    metrics: metricsConfig(values, env, host),
    admin: adminConfig(values, env),
    ...apiKeyConfig(values['api-key-env'], env),
    redis,
    allowedOrigins: allowedOriginsConfig(values['allowed-origin'], env['MSGHUB_ALLOWED_ORIGINS']),
    perMessageDeflate: perMessageDeflateConfig(values, env),
  };
}

/** `--allowed-origin` (repeatable), else `MSGHUB_ALLOWED_ORIGINS` (comma-separated); checked now so a typo stops the start. */
function allowedOriginsConfig(flags: readonly string[] | undefined, variable: string | undefined): readonly string[] | undefined {
  const origins = flags ?? (variable === undefined || variable.trim() === '' ? undefined : variable.split(',').map((origin) => origin.trim()));
  if (origins === undefined) return undefined;
  resolveAllowedOrigins(origins, flags === undefined ? 'MSGHUB_ALLOWED_ORIGINS' : '--allowed-origin');
  return origins;
}

function perMessageDeflateConfig(
  values: { 'per-message-deflate'?: boolean | undefined; 'per-message-deflate-threshold'?: string | undefined },
  env: NodeJS.ProcessEnv,
): PerMessageDeflateOptions | false {
  const thresholdText = values['per-message-deflate-threshold'] ?? env['MSGHUB_PER_MESSAGE_DEFLATE_THRESHOLD'];
  const on = values['per-message-deflate'] === true || flagSet('MSGHUB_PER_MESSAGE_DEFLATE', env['MSGHUB_PER_MESSAGE_DEFLATE']);
  if (!on) {
    if (values['per-message-deflate-threshold'] !== undefined) throw new TypeError('Expected --per-message-deflate with --per-message-deflate-threshold');
    return false;
  }
  if (thresholdText === undefined || thresholdText === '') return {};
  const threshold = Number(thresholdText);
  if (!Number.isSafeInteger(threshold) || threshold < 0) {
    throw new TypeError(`Expected --per-message-deflate-threshold to be a whole number of bytes, got ${JSON.stringify(thresholdText)}`);
  }
  return { threshold };
}

/** The API key from the variable `--api-key-env` names, else `MSGHUB_API_KEY`; a named variable must be set. */
function apiKeyConfig(name: string | undefined, env: NodeJS.ProcessEnv): { apiKey?: string } {
  if (name !== undefined && (env[name] ?? '') === '') {
    throw new TypeError(`Expected the environment variable ${JSON.stringify(name)} (--api-key-env) to hold the API key, but it is not set`);
  }
  const key = env[name ?? 'MSGHUB_API_KEY'];
  return key === undefined || key === '' ? {} : { apiKey: key };
}

function flagSet(name: string, value: string | undefined): boolean {
  if (value === undefined || value === '' || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'true') return true;
  throw new TypeError(`Expected ${name} to be 1, true, 0 or false, got ${JSON.stringify(value)}`);
}

function devTokens(on: boolean, secret: string | undefined): DevTokensOption {
  if (!on) return false;
  return secret === undefined || secret === '' ? true : { secret };
}

/** A running main job. */
export interface MainJob {
  readonly server: HubServer;
  readonly addresses: ListenAddresses;
  /** Graceful shutdown: the server (bye, rooms closed), then the file store (index written), the offline queue and the cluster store. */
  close(): Promise<void>;
}

/**
 * Starts the server (and its file store and offline queue) described by `config`. Rooms continue
 * where the log left them, after a graceful stop or a crash: a room opened again goes on at its
 * next id in the same epoch, and start-up reads the store's index, not the whole log.
 */
export async function startMain(config: MainConfig): Promise<MainJob> {
  let store: FileStore | undefined;
  let offlineQueue: FileOfflineQueue | undefined;
  if (config.log !== undefined) {
    mkdirSync(dirname(config.log), { recursive: true });
    store = new FileStore({ file: config.log, fsync: config.fsync ?? 'batch', onError: reportLogError });
    offlineQueue = await FileOfflineQueue.open(`${config.log}.offline`, { onError: reportQueueError });
  }
  const cluster = config.redis === undefined ? undefined : await clusterNode(config.redis);
  const server = new HubServer({
    metrics: config.metrics ?? false,
    admin: config.admin === undefined || config.admin === false ? false : { token: config.admin.token },
    trustClientUser: config.trustClientUser,
    assets: config.assets,
    devTokens: config.devTokens ?? false,
    ...(config.allowedOrigins === undefined ? {} : { allowedOrigins: config.allowedOrigins }),
    perMessageDeflate: config.perMessageDeflate ?? false,
    onError: reportServerError,
    ...(config.apiKey === undefined ? {} : { apiKey: config.apiKey }),
    offlineQueue,
    ...(store === undefined ? {} : { store }),
    ...cluster?.serverOptions,
  });
  let addresses: ListenAddresses;
  try {
    await cluster?.attach(server);
    addresses = await bind(server, config);
  } catch (error) {
    await server.close();
    await store?.close();
    await offlineQueue?.close();
    await cluster?.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    server,
    addresses,
    close: () =>
      (closing ??= server.close().then(() => store?.close()).then(() => offlineQueue?.close()).then(() => cluster?.close())),
  };
}

/**
 * The main job could not bind a port (in use, or privileged): `flag` names the option that picks
 * another. The message is one line a person can act on.
 */
export class PortUnavailableError extends Error {
  override readonly name = 'PortUnavailableError';
  readonly code = 'PORT_UNAVAILABLE';
  readonly flag: '--ws-port' | '--tcp-port';
  readonly port: number;

  constructor(message: string, flag: '--ws-port' | '--tcp-port', port: number, options?: { cause?: unknown }) {
    super(message, options);
    this.flag = flag;
    this.port = port;
  }
}

/** Listens on the WebSocket port, then the TCP port, so a failure names the one that failed. */
async function bind(server: HubServer, config: MainConfig): Promise<ListenAddresses> {
  const { host, wsPort, tcpPort, wsPath, websocket = true, http = true } = config;
  const { ws } = await server
    .listen({ ws: { host, port: wsPort, websocket, http, ...(wsPath === undefined ? {} : { path: wsPath }) } })
    .catch((error: unknown) => Promise.reject(explainListenError(error, 'WebSocket', '--ws-port', host, wsPort)));
  const { tcp } = await server
    .listen({ tcp: { host, port: tcpPort } })
    .catch((error: unknown) => Promise.reject(explainListenError(error, 'TCP', '--tcp-port', host, tcpPort)));
  return { ...(ws === undefined ? {} : { ws }), ...(tcp === undefined ? {} : { tcp }) };
}

function explainListenError(error: unknown, carrier: string, flag: '--ws-port' | '--tcp-port', host: string, port: number): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const what = `${carrier} port ${port} on ${host}`;
  if (code === 'EADDRINUSE') {
    return new PortUnavailableError(`${what} is already in use; choose another with ${flag} <port> (0 = any free port)`, flag, port, { cause: error });
  }
  if (code === 'EACCES') {
    return new PortUnavailableError(`${what} needs privileges this process lacks; choose another with ${flag} <port>`, flag, port, { cause: error });
  }
  return error;
}

/** What a node of a cluster adds to the server. */
interface ClusterNode {
  /** The rooms' store, the offline queue and the presence hooks, all in Redis. */
  readonly serverOptions: Pick<HubServerOptions, 'store' | 'offlineQueue' | 'signalBus' | 'onConnect' | 'onDisconnect'>;
  /** `online`, `presence` and kicks for the whole cluster. */
  attach(server: HubServer): Promise<void>;
  close(): Promise<void>;
}

/**
 * A node of the cluster on `url`. `@msghub/cluster` is an optional peer: only a node of a cluster
 * loads it (and ioredis).
 */
async function clusterNode(url: string): Promise<ClusterNode> {
  let cluster: typeof import('@msghub/cluster');
  try {
    cluster = await import('@msghub/cluster');
  } catch (error) {
    throw new Error('--redis needs the package @msghub/cluster next to @msghub/transport', { cause: error });
  }
  const report = (error: unknown): void => console.error('msghub: cluster:', (error as Error).message);
  const store = new cluster.RedisStore({ redis: url, onError: report });
  const presence = new cluster.ClusterPresence(store, { onError: report });
  return {
    serverOptions: {
      store,
      offlineQueue: new cluster.RedisOfflineQueue<DirectFrame>(store),
      signalBus: new cluster.ClusterSignals(store, { onError: report }),
      onConnect: presence.onConnect,
      onDisconnect: presence.onDisconnect,
    },
    attach: (server) => presence.attach(server),
    close: async () => {
      presence.close();
      await store.close();
    },
  };
}

/** A refused origin is a situation an operator reads in one line; anything else keeps its stack. */
function reportServerError(error: unknown): void {
  if (error instanceof OriginNotAllowedError) console.error(`msghub: ${error.message}`);
  else console.error('msghub transport:', error);
}

function reportLogError(error: Error): void {
  console.error('msghub: event log:', error.message);
}

function reportQueueError(error: Error): void {
  console.error('msghub: offline queue:', error.message);
}
