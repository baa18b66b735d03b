/**
 * This node's heartbeat in the cluster, and the survivors' duty: every node records itself alive
 * in Redis every `heartbeatMs`, and looks for nodes that have not beaten for `nodeTimeoutMs`. For
 * each dead node it finds, it removes the dead node's sessions from every room the node had open,
 * appending one `leave`/`remove` each (the room's script makes that happen once, whichever
 * survivors look at the same time), then forgets the node.
 */
import type { Redis } from 'ioredis';
import { nodeRoomsKey, nodeWakeKey, nodesKey, roomKeys } from './keys.js';
import { APPEND, FORGET_NODE, HEARTBEAT } from './scripts.js';

export interface RegistryHost {
  readonly command: Redis;
  readonly prefix: string;
  readonly nodeId: string;
  readonly heartbeatMs: number;
  readonly nodeTimeoutMs: number;
  /** Entries a room's stream keeps, for the leaves appended for a dead node. */
  readonly retain: number;
  /** The rooms this node has open (put back on its list after it was taken for dead). */
  readonly openRooms: () => Iterable<string>;
  readonly report: (error: Error) => void;
  /** More to clean up after a dead node (its connections in the user directory), run before it is forgotten. */
  readonly reapers: readonly ((node: string) => Promise<void>)[];
}

export class NodeRegistry {
  readonly #host: RegistryHost;
  readonly #nodes: string;
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;
  #started = false;
  #stopped = false;
  /** Resolves once the first heartbeat is in Redis. */
  readonly registered: Promise<void>;
  #resolveRegistered!: () => void;

  constructor(host: RegistryHost) {
    this.#host = host;
    this.#nodes = nodesKey(host.prefix);
    this.registered = new Promise((resolve) => (this.#resolveRegistered = resolve));
  }

  /** Starts beating (the first beat at once). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#beat();
  }

  /** Stops beating and takes this node off the list: it has left, with its sessions gone already. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#beating;
    if (!this.#started) return;
    const { command, prefix, nodeId } = this.#host;
    await Promise.all([
      command.zrem(this.#nodes, nodeId),
      command.del(nodeRoomsKey(prefix, nodeId)),
      command.del(nodeWakeKey(prefix, nodeId)),
    ]).catch(this.#host.report);
  }

  #beat(): void {
    this.#beating = this.#once()
      .catch((error: unknown) => this.#host.report(error as Error))
      .finally(() => {
        this.#beating = undefined;
        if (this.#stopped) return;
        this.#timer = setTimeout(registryOnTimer, this.#host.heartbeatMs, this);
        this.#timer.unref();
      });
  }

  /** Called by the timer. */
  tick(): void {
    if (!this.#stopped) this.#beat();
  }

  async #once(): Promise<void> {
    const { command, prefix, nodeId, nodeTimeoutMs } = this.#host;
    const [added, dead, now] = (await HEARTBEAT.run(command, [this.#nodes], [nodeId, nodeTimeoutMs])) as [number, string[], number];
    if (added === 1) {
      // New, or taken for dead and removed (a long pause): the rooms go back on this node's list.
      const rooms = [...this.#host.openRooms()];
      if (rooms.length > 0) await command.sadd(nodeRoomsKey(prefix, nodeId), ...rooms);
    }
    this.#resolveRegistered();
    for (const node of dead) if (node !== nodeId && !this.#stopped) await this.#reap(node, now - nodeTimeoutMs);
  }

  /** Removes the sessions of a dead node from its rooms, then the node. */
  async #reap(node: string, deadline: number): Promise<void> {
    const { command, prefix, retain } = this.#host;
    const roomsKey = nodeRoomsKey(prefix, node);
    const rooms = await command.smembers(roomsKey);
    for (const room of rooms) {
      const keys = roomKeys(prefix, room);
      await APPEND.run(command, [keys.meta, keys.events, keys.sessions, keys.users, keys.order], ['', node, retain, JSON.stringify(room), Date.now(), 'x', '', '', '']);
    }
    for (const reaper of this.#host.reapers) await reaper(node);
    if ((await FORGET_NODE.run(command, [this.#nodes], [node, deadline])) === 1) {
      await command.del(roomsKey, nodeWakeKey(prefix, node));
    }
  }
}

function registryOnTimer(registry: NodeRegistry): void {
  registry.tick();
}
