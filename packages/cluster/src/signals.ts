/**
 * Ephemeral room signals (typing indicators, cursors) across nodes: a signal sent on one node goes
 * out on a Redis channel, and every other node hands it to its own members of the room. Like the
 * signals themselves, nothing is stored: a node that is not subscribed at that moment misses it.
 * Implements the transport's `SignalBus`.
 */
import type { RedisStore } from './redis-store.js';

const CHANNEL = 'signals';

/**
 * @example
 * const server = new HubServer({ store, signalBus: new ClusterSignals(store) });
 */
export class ClusterSignals {
  readonly #store: RedisStore;
  /** Errors with no caller (publishing failed). */
  readonly #report: (error: unknown) => void;

  constructor(store: RedisStore, options: { onError?: (error: unknown) => void } = {}) {
    this.#store = store;
    this.#report = options.onError ?? console.error;
  }

  /** Sends a signal of this node's member to the other nodes. */
  publish(room: string, from: string, data: unknown): void {
    const message = JSON.stringify({ room, from, data, node: this.#store.nodeId });
    this.#store.publish(CHANNEL, message).catch(this.#report);
  }

  /** Calls `deliver` with each signal sent on another node. */
  follow(deliver: (room: string, from: string, data: unknown) => void): void {
    this.#store
      .subscribe(CHANNEL, (text) => {
        const { room, from, data, node } = JSON.parse(text) as { room: string; from: string; data: unknown; node: string };
        if (node !== this.#store.nodeId) deliver(room, from, data);
      })
      .catch(this.#report);
  }
}
