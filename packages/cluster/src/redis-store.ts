/**
 * The cluster's RoomStore: every room's sequence, history, epoch and presence in Redis, shared by
 * every node. One stream per room holds its committed events keyed by their ids; one atomic script
 * per drained batch gives the ids; each node follows the streams of its open rooms (see
 * {@link StreamFollower}) and delivers every event, its own among all others, in id order.
 */
import type { HubEvent, RoomFollower, RoomMember, RoomOpenOptions, RoomState, RoomStore } from '@msghub/messagehub';
import { randomId } from '@msghub/messagehub';
import { Redis } from 'ioredis';
import { RedisUnavailableError, SequenceResetError } from './errors.js';
import { nodeRoomsKey, nodeWakeKey, roomKeys, type RoomKeys } from './keys.js';
import { NodeRegistry } from './node-registry.js';
import { resolveRedisStoreOptions, type RedisStoreOptions, type ResolvedRedisStoreOptions } from './options.js';
import { APPEND, OPEN } from './scripts.js';
import { StreamFollower } from './stream-follower.js';

/** Kinds of event in the append script's arguments. */
const KIND: Record<HubEvent['type'], string> = { message: 'm', join: 'j', add: 'j', leave: 'l', remove: 'l', close: 'c' };

interface OpenRoom {
  readonly keys: RoomKeys;
  readonly epoch: string;
  /** JSON of the room's name, as it appears in every event. */
  readonly json: string;
  /** Entries its stream keeps. */
  readonly maxlen: number;
  /** The highest id this node's appends reached. */
  appended: number;
}

/**
 * A {@link RoomStore} on Redis Streams that sequences rooms for every node of a cluster
 * (`sequences: true`). Give one to each node's `HubServer` (or `MessageHub`s), all on one Redis.
 *
 * @example
 * const store = new RedisStore({ redis: 'redis://127.0.0.1:6379' });
 * const server = new HubServer({ store });
 * // on shutdown: await server.close(); await store.close();
 */
export class RedisStore implements RoomStore {
  readonly encodes = true;
  readonly sequences = true;
  /** This node's id in the cluster. */
  readonly nodeId: string;
  readonly #options: ResolvedRedisStoreOptions;
  readonly #command: Redis;
  readonly #blocking: Redis;
  readonly #follower: StreamFollower;
  readonly #registry: NodeRegistry;
  readonly #reapers: ((node: string) => Promise<void>)[] = [];
  /** The connection subscribed to the cluster's channels, made on first use. */
  #subscriber: Redis | undefined;
  readonly #channels = new Map<string, Set<(message: string) => void>>();
  readonly #rooms = new Map<string, OpenRoom>();
  #closing: Promise<void> | undefined;
  /** Redis is known to be unreachable (reported once until it answers again). */
  #down = false;

  /** @throws {TypeError} when an option has the wrong type or range */
  constructor(options: RedisStoreOptions = {}) {
    this.#options = resolveRedisStoreOptions(options);
    this.nodeId = this.#options.nodeId;
    const { redis, commandTimeoutMs } = this.#options;
    const base = {
      // A command whose outcome is unknown (an append sent before the connection broke) is never
      // sent again: it fails, and the room with it, rather than risk appending a batch twice.
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: null,
      lazyConnect: false,
    };
    this.#command =
      typeof redis === 'string'
        ? new Redis(redis, { ...base, commandTimeout: commandTimeoutMs })
        : new Redis({ ...redis, ...base, commandTimeout: commandTimeoutMs });
    // The blocking read waits up to blockMs; a read not answered by then (Redis paused, a dead
    // connection) resolves empty and is sent again.
    this.#blocking = this.#command.duplicate({ commandTimeout: undefined, blockingTimeout: 1, blockingTimeoutGrace: 1000 });
    this.#command.on('error', this.#redisOnError);
    this.#blocking.on('error', this.#redisOnError);
    this.#command.on('ready', this.#redisOnReady);
    this.#follower = new StreamFollower({
      blocking: this.#blocking,
      command: this.#command,
      wakeKey: nodeWakeKey(this.#options.prefix, this.nodeId),
      blockMs: this.#options.blockMs,
      readCount: this.#options.readCount,
      report: this.#options.onError,
    });
    this.#registry = new NodeRegistry({
      command: this.#command,
      prefix: this.#options.prefix,
      nodeId: this.nodeId,
      heartbeatMs: this.#options.heartbeatMs,
      nodeTimeoutMs: this.#options.nodeTimeoutMs,
      retain: this.#options.retain,
      openRooms: () => this.#rooms.keys(),
      report: this.#options.onError,
      reapers: this.#reapers,
    });
    this.#registry.start();
  }

  /** The connection the store sends its commands on (for presence and tests; do not block on it). */
  get redis(): Redis {
    return this.#command;
  }

  /** The prefix of every key of this cluster. */
  get prefix(): string {
    return this.#options.prefix;
  }

  async open<T>(room: string, options: RoomOpenOptions): Promise<RoomState<T>> {
    const keys = roomKeys(this.#options.prefix, room);
    const { historySize } = options;
    // A session of this node may only enter a room once the node is on the list survivors read.
    await this.#registered();
    const [reply] = await Promise.all([
      this.#call(OPEN.run(this.#command, [keys.meta, keys.events, keys.users, keys.order], [randomId(), historySize])),
      // Before any session of this node can be in the room, the room is on the node's list, so a
      // survivor finds it should this node die.
      this.#call(this.#command.sadd(nodeRoomsKey(this.#options.prefix, this.nodeId), room)),
    ]);
    const [epoch, head, entries, flat] = reply as [string, number, [string, string[]][], string[]];
    const history: HubEvent<T>[] = [];
    for (let i = entries.length - 1; i >= 0; i--) {
      const [, fields] = entries[i] as [string, string[]];
      const at = fields.indexOf('e');
      if (at === -1 || at % 2 === 1) continue;
      try {
        history.push(JSON.parse(fields[at + 1] as string) as HubEvent<T>);
      } catch {
        // A foreign entry: the follower reports it when it meets it.
      }
    }
    const members: RoomMember[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) members.push({ userId: flat[i] as string, sessions: Number(flat[i + 1]) });
    this.#rooms.set(room, { keys, epoch, json: JSON.stringify(room), maxlen: Math.max(this.#options.retain, historySize), appended: Number(head) });
    return { epoch, lastEventId: Number(head), history, members };
  }

  async append<T>(room: string, events: readonly HubEvent<T>[], lines: readonly string[] | undefined): Promise<readonly number[]> {
    const open = this.#rooms.get(room);
    if (open === undefined) throw new Error(`Room ${JSON.stringify(room)} is not open in this store`);
    // The stream keeps about `maxlen` entries: a batch goes in chunks of at most half of that, each
    // once this node has read nearly all it appended before, so trimming never overtakes its reader.
    const chunk = Math.max(1, Math.floor(open.maxlen / 2));
    const ids: number[] = [];
    for (let from = 0; from < events.length; from += chunk) {
      const size = Math.min(chunk, events.length - from);
      await this.#readUpTo(open, open.appended + size - chunk);
      const args: (string | number)[] = [open.epoch, this.nodeId, open.maxlen, open.json, Date.now()];
      for (let i = from; i < from + size; i++) {
        const event = events[i] as HubEvent<T>;
        let key = '';
        let value = '';
        if (event.type !== 'message' && event.type !== 'close') {
          key = JSON.stringify([event.userId, event.sessionId]);
          value = JSON.stringify([this.nodeId, event.userId, event.sessionId]);
        }
        args.push(KIND[event.type], key, value, tailOf(event, lines?.[i], open.json));
      }
      const given = (await this.#call(APPEND.run(this.#command, keysOf(open.keys), args)).catch((error: unknown) => {
        if (!String((error as Error | null)?.message).startsWith('SEQUENCE_RESET')) throw error;
        throw new SequenceResetError(`The sequence of room ${room} in Redis is not the one it was opened with`, room, { cause: error });
      })) as number[];
      for (const id of given) {
        const n = Number(id);
        ids.push(n);
        if (n > open.appended) open.appended = n;
      }
    }
    return ids;
  }

  /** Waits (at most `commandTimeoutMs`) until this node has read the room's stream up to `id`. */
  async #readUpTo(open: OpenRoom, id: number): Promise<void> {
    if (id <= 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RedisUnavailableError('This node could not read its own appends in time')), this.#options.commandTimeoutMs);
    });
    try {
      await Promise.race([this.#follower.reached(open.keys.events, id), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async read<T>(room: string, since: number, limit = Infinity): Promise<HubEvent<T>[]> {
    if (limit <= 0) return [];
    const { events } = roomKeys(this.#options.prefix, room);
    const entries = (await this.#call(
      Number.isFinite(limit)
        ? this.#command.xrange(events, `${since + 1}`, '+', 'COUNT', limit)
        : this.#command.xrange(events, `${since + 1}`, '+'),
    )) as [string, string[]][];
    const result: HubEvent<T>[] = [];
    for (const [, fields] of entries) {
      const at = fields.indexOf('e');
      if (at === -1 || at % 2 === 1) continue;
      try {
        result.push(JSON.parse(fields[at + 1] as string) as HubEvent<T>);
      } catch {
        // A foreign entry is not an event of the room.
      }
    }
    return result;
  }

  follow<T>(room: string, afterId: number, follower: RoomFollower<T>): () => void {
    const open = this.#rooms.get(room);
    if (open === undefined) throw new Error(`Room ${JSON.stringify(room)} is not open in this store`);
    return this.#follower.follow(room, open.keys.events, open.keys.meta, open.epoch, afterId, follower as RoomFollower<unknown>);
  }

  /**
   * The hub is done with the room: sessions of this node still in it (a room that failed) leave,
   * and the room is off the node's list.
   */
  async release(room: string): Promise<void> {
    const open = this.#rooms.get(room);
    if (open === undefined) return;
    this.#rooms.delete(room);
    await this.#call(APPEND.run(this.#command, keysOf(open.keys), ['', this.nodeId, open.maxlen, open.json, Date.now(), 'x', '', '', '']));
    if (!this.#rooms.has(room)) await this.#call(this.#command.srem(nodeRoomsKey(this.#options.prefix, this.nodeId), room));
  }

  /**
   * Runs `reaper` with the id of every node found dead, after its sessions have left its rooms and
   * before it is forgotten (for what else a node keeps in Redis, such as its connections).
   */
  onNodeDeath(reaper: (node: string) => Promise<void>): void {
    this.#reapers.push(reaper);
  }

  /**
   * Receives what any node publishes on `channel` (under the store's prefix), on a connection of
   * its own. @returns a function that stops it
   */
  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => void> {
    const name = `${this.#options.prefix}:${channel}`;
    let handlers = this.#channels.get(name);
    if (handlers === undefined) {
      this.#channels.set(name, (handlers = new Set()));
      if (this.#subscriber === undefined) {
        const subscriber = this.#command.duplicate({ commandTimeout: undefined });
        subscriber.on('error', this.#redisOnError);
        subscriber.on('message', this.#subscriberOnMessage);
        this.#subscriber = subscriber;
      }
      await this.#call(this.#subscriber.subscribe(name));
    }
    handlers.add(onMessage);
    return () => {
      handlers.delete(onMessage);
    };
  }

  /** Publishes `message` on `channel` (under the store's prefix) to every node, this one included. */
  async publish(channel: string, message: string): Promise<void> {
    await this.#call(this.#command.publish(`${this.#options.prefix}:${channel}`, message));
  }

  readonly #subscriberOnMessage = (channel: string, message: string): void => {
    for (const handler of this.#channels.get(channel) ?? []) {
      try {
        handler(message);
      } catch (error) {
        this.#options.onError(error as Error);
      }
    }
  };

  /**
   * Stops following, takes this node off the cluster's list and closes the connections. Call it
   * after the rooms (the server) are closed.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#follower.close();
      await this.#registry.stop();
      this.#blocking.disconnect();
      this.#subscriber?.disconnect();
      await this.#command.quit().catch(() => this.#command.disconnect());
    })();
    return this.#closing;
  }

  /** Resolves once the node's first heartbeat is in Redis; fails after the command timeout. */
  #registered(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RedisUnavailableError('This node could not register in Redis in time')), this.#options.commandTimeoutMs);
    });
    return Promise.race([this.#registry.registered, timeout]).finally(() => clearTimeout(timer));
  }

  /** Runs a Redis command; a failure becomes a {@link RedisUnavailableError} (a script error stays what it is). */
  async #call<R>(command: Promise<R>): Promise<R> {
    try {
      return await command;
    } catch (error) {
      if (error instanceof Error && /^[A-Z_]+ /.test(error.message) && !/^(NOSCRIPT|LOADING|BUSY|MASTERDOWN)/.test(error.message)) {
        // An answer from Redis itself (a script that refused): not a connection problem.
        throw error;
      }
      throw new RedisUnavailableError('Redis did not answer in time', { cause: error });
    }
  }

  readonly #redisOnError = (error: Error): void => {
    if (this.#down) return;
    this.#down = true;
    this.#options.onError(new RedisUnavailableError('The connection to Redis failed; reconnecting', { cause: error }));
  };

  readonly #redisOnReady = (): void => {
    this.#down = false;
  };
}

function keysOf(keys: RoomKeys): string[] {
  return [keys.meta, keys.events, keys.sessions, keys.users, keys.order];
}

/**
 * The event's JSON after its `type` (`,"userId":...,"unixTime":...}`): the script writes the id, the
 * room and the type it decides in front. The hub's text is used when it starts as expected.
 */
function tailOf(event: HubEvent<unknown>, line: string | undefined, room: string): string {
  if (line !== undefined) {
    const head = `{"id":${event.id},"chatroomId":${room},"type":"${event.type}"`;
    if (line.startsWith(head)) return line.slice(head.length);
  }
  const { id: _id, chatroomId: _room, type: _type, ...rest } = event;
  const text = JSON.stringify(rest);
  return text === '{}' ? '}' : `,${text.slice(1)}`;
}
