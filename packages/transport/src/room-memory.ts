/**
 * Remembers where every room stopped (its last event id and latest events), so the main job can
 * seed a room created again, after an idle close or a restart, and its ids go on without a reset.
 * It learns from the event log at start-up and from a listener on every live room.
 */
import type { HubEvent, HubListener, MessageHub } from '@msghub/messagehub';
import type { RoomSeed } from './rooms.js';

interface Memory {
  lastEventId: number;
  history: HubEvent<unknown>[];
}

export class RoomMemory {
  readonly #historySize: number;
  readonly #rooms = new Map<string, Memory>();

  /** @param historySize how many latest events to keep per room; match the rooms' `historySize` */
  constructor(historySize = 1024) {
    this.#historySize = historySize;
  }

  /** Rooms remembered. */
  get size(): number {
    return this.#rooms.size;
  }

  /** Records one event. Ids that start again from below mean a restart without a seed: the latest run wins. */
  record(event: HubEvent<unknown>): void {
    let memory = this.#rooms.get(event.chatroomId);
    if (memory === undefined || event.id <= memory.lastEventId) {
      memory = { lastEventId: 0, history: [] };
      this.#rooms.set(event.chatroomId, memory);
    }
    memory.lastEventId = event.id;
    if (this.#historySize === 0) return;
    memory.history.push(event);
    if (memory.history.length >= 2 * this.#historySize) memory.history.splice(0, memory.history.length - this.#historySize);
  }

  /** Reads every event of an async source (the event log) into memory. */
  async learn(events: AsyncIterable<HubEvent<unknown>>): Promise<void> {
    for await (const event of events) this.record(event);
  }

  /** Where `room` stopped, or undefined for a room never seen. */
  seed(room: string): RoomSeed | undefined {
    const memory = this.#rooms.get(room);
    if (memory === undefined) return undefined;
    return { lastEventId: memory.lastEventId, history: memory.history.slice(-this.#historySize) };
  }

  /** Keeps following a live room. */
  follow(hub: MessageHub<unknown>): void {
    const listener: HubListener<unknown> = { next: (event) => this.record(event) };
    hub.attachListener(listener);
  }
}
