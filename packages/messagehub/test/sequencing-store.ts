/**
 * An in-memory sequencing RoomStore for tests: one {@link SharedSequencer} plays the part of Redis,
 * and each {@link SequencingNodeStore} over it the part of one node's store. It follows the contract
 * of `RoomStore.sequences` the way the cluster's Lua scripts do, so the hub's sequenced mode is
 * tested here without a Redis.
 */
import type { HubEvent, RoomFollower, RoomState, RoomStore } from '../src/index.js';
import { randomId } from '../src/index.js';

interface Entry {
  readonly event: HubEvent<unknown>;
  readonly line: string;
}

interface SessionEntry {
  readonly node: string;
  readonly userId: string;
}

interface Room {
  readonly epoch: string;
  head: number;
  closed: boolean;
  readonly entries: Entry[];
  /** `userId\0sessionId` → who holds it. */
  readonly sessions: Map<string, SessionEntry>;
  /** User → sessions, in join order. */
  readonly counts: Map<string, number>;
  readonly followers: Set<Follow>;
}

interface Follow {
  cursor: number;
  readonly follower: RoomFollower<unknown>;
  running: boolean;
  stopped: boolean;
}

const key = (userId: string, sessionId: string): string => `${userId}\0${sessionId}`;

/** The shared state every node store sequences against. */
export class SharedSequencer {
  readonly rooms = new Map<string, Room>();
  /** Appends answered so far (one per batch). */
  appends = 0;
  /** When set, appends fail with this error. */
  failAppends: Error | undefined;

  room(name: string): Room {
    let room = this.rooms.get(name);
    if (room === undefined) {
      room = { epoch: randomId(), head: 0, closed: false, entries: [], sessions: new Map(), counts: new Map(), followers: new Set() };
      this.rooms.set(name, room);
    }
    return room;
  }

  append(node: string, name: string, events: readonly HubEvent<unknown>[]): number[] {
    const room = this.room(name);
    const ids: number[] = [];
    const add = (event: HubEvent<unknown>): number => {
      const id = ++room.head;
      const stored = { ...event, id } as HubEvent<unknown>;
      room.entries.push({ event: stored, line: JSON.stringify(stored) });
      room.closed = event.type === 'close';
      return id;
    };
    const leave = (userId: string, sessionId: string, unixTime: number): number => {
      room.sessions.delete(key(userId, sessionId));
      const count = (room.counts.get(userId) ?? 1) - 1;
      if (count > 0) room.counts.set(userId, count);
      else room.counts.delete(userId);
      return add({ id: 0, chatroomId: name, type: count > 0 ? 'remove' : 'leave', userId, sessionId, unixTime });
    };
    for (const event of events) {
      if (event.type === 'join' || event.type === 'add') {
        const k = key(event.userId, event.sessionId);
        if (room.sessions.has(k)) {
          ids.push(0);
          continue;
        }
        room.sessions.set(k, { node, userId: event.userId });
        const count = (room.counts.get(event.userId) ?? 0) + 1;
        room.counts.set(event.userId, count);
        ids.push(add({ ...event, type: count === 1 ? 'join' : 'add' }));
      } else if (event.type === 'leave' || event.type === 'remove') {
        if (room.sessions.get(key(event.userId, event.sessionId))?.node !== node) ids.push(0);
        else ids.push(leave(event.userId, event.sessionId, event.unixTime));
      } else if (event.type === 'close') {
        const mine = [...room.sessions].filter(([, entry]) => entry.node === node);
        let last = 0;
        if (mine.length === room.sessions.size) {
          room.sessions.clear();
          room.counts.clear();
          if (!room.closed) last = add(event);
        } else {
          for (const [k, entry] of mine) last = leave(entry.userId, k.slice(entry.userId.length + 1), event.unixTime);
        }
        ids.push(last);
      } else ids.push(add(event));
    }
    this.appends++;
    for (const follow of room.followers) this.#pump(room, follow);
    return ids;
  }

  /** Removes every session `node` holds, as a survivor does for a node that died. */
  reap(node: string, name: string, unixTime: number): void {
    const room = this.room(name);
    const mine = [...room.sessions].filter(([, entry]) => entry.node === node);
    for (const [k, entry] of mine) {
      room.sessions.delete(k);
      const count = (room.counts.get(entry.userId) ?? 1) - 1;
      if (count > 0) room.counts.set(entry.userId, count);
      else room.counts.delete(entry.userId);
      const id = ++room.head;
      const event = { id, chatroomId: name, type: count > 0 ? 'remove' : 'leave', userId: entry.userId, sessionId: k.slice(entry.userId.length + 1), unixTime } as HubEvent<unknown>;
      room.entries.push({ event, line: JSON.stringify(event) });
      room.closed = false;
    }
    for (const follow of room.followers) this.#pump(room, follow);
  }

  follow(name: string, afterId: number, follower: RoomFollower<unknown>): () => void {
    const room = this.room(name);
    const follow: Follow = { cursor: afterId, follower, running: false, stopped: false };
    room.followers.add(follow);
    this.#pump(room, follow);
    return () => {
      follow.stopped = true;
      room.followers.delete(follow);
    };
  }

  /** Hands a follower what it has not seen, a few events at a time, on later turns (as a socket would). */
  #pump(room: Room, follow: Follow): void {
    if (follow.running) return;
    follow.running = true;
    setImmediate(() => {
      void (async () => {
        while (!follow.stopped) {
          const from = room.entries.findIndex((entry) => entry.event.id > follow.cursor);
          if (from === -1) break;
          const batch = room.entries.slice(from, from + 3);
          follow.cursor = (batch.at(-1) as Entry).event.id;
          await follow.follower.events(batch.map((e) => e.event), batch.map((e) => e.line));
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        follow.running = false;
      })();
    });
  }
}

/** One node's store over a {@link SharedSequencer}. */
export class SequencingNodeStore implements RoomStore {
  readonly encodes = true;
  readonly sequences = true;
  readonly node: string;
  readonly #shared: SharedSequencer;

  constructor(shared: SharedSequencer, node = randomId()) {
    this.#shared = shared;
    this.node = node;
  }

  async open<T>(name: string, options: { historySize: number }): Promise<RoomState<T>> {
    await Promise.resolve();
    const room = this.#shared.room(name);
    const history = options.historySize === 0 ? [] : room.entries.slice(-options.historySize).map((e) => e.event);
    const members = [...room.counts].map(([userId, sessions]) => ({ userId, sessions }));
    return { epoch: room.epoch, lastEventId: room.head, history: history as HubEvent<T>[], members };
  }

  async append<T>(name: string, events: readonly HubEvent<T>[]): Promise<readonly number[]> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.#shared.failAppends !== undefined) throw this.#shared.failAppends;
    return this.#shared.append(this.node, name, events as readonly HubEvent<unknown>[]);
  }

  async read<T>(name: string, since: number, limit = Infinity): Promise<HubEvent<T>[]> {
    const room = this.#shared.rooms.get(name);
    if (room === undefined) return [];
    return room.entries.filter((e) => e.event.id > since).slice(0, limit).map((e) => e.event) as HubEvent<T>[];
  }

  release(): void {}

  follow<T>(name: string, afterId: number, follower: RoomFollower<T>): () => void {
    return this.#shared.follow(name, afterId, follower as RoomFollower<unknown>);
  }
}
