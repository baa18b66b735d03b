/**
 * User-to-user `direct` messages and their acknowledgements. Every message goes into the offline
 * queue before it is sent, to every connection its recipient has, and each new connection of the
 * recipient is sent what is still pending there, until a client acknowledges it (`ack`): at least
 * once to every connection, exactly once to a client that drops repeated ids. Without a queue a
 * message reaches the connections open at the time, at most once.
 */
import { randomId } from '@msghub/messagehub';
import type { Connection } from './connection.js';
import { NotFoundWireError, OfflineError, OfflineQueueFullError, toWireError } from './errors.js';
import type { Counters } from './metrics.js';
import type { OfflineQueue } from './offline-queue.js';
import type { AckFrame, DirectFrame, DirectSendFrame } from './protocol.js';

/** What {@link DirectDelivery} works with; owned by the server. */
export interface DirectDeliveryState {
  readonly offlineQueue: OfflineQueue | false;
  readonly counters: Counters;
  /** User id → that user's authenticated connections. */
  readonly users: ReadonlyMap<string, readonly Connection[]>;
  readonly onError: (error: unknown) => void;
}

export class DirectDelivery {
  readonly #state: DirectDeliveryState;
  /**
   * Connections whose pending messages are still being read from an asynchronous queue: what
   * arrives for them meanwhile waits here, so that nothing overtakes the older messages.
   */
  readonly #held = new Map<Connection, DirectFrame[]>();

  constructor(state: DirectDeliveryState) {
    this.#state = state;
    // A queue shared with other servers hands over what was sent on them to this one's connections.
    if (state.offlineQueue !== false) state.offlineQueue.follow?.((userId, message) => void this.#sendToUser(userId, message));
  }

  /**
   * Handles a `direct` without `room`: queues it for `to`, then sends it to every connection of
   * `to` and answers the sender `ok`.
   * @returns a promise while an asynchronous queue is storing the message (the sender's next
   *   frames wait for it, so its messages keep their order)
   */
  send(connection: Connection, frame: DirectSendFrame): void | Promise<void> {
    // A random id, not a counter: a counter would start again after a restart, and a client would
    // take a new message for one it has seen.
    const message: DirectFrame = { type: 'direct', id: randomId(), from: connection.userId, data: frame.data, ts: Date.now() };
    const queue = this.#state.offlineQueue;
    if (queue === false) return this.#sendUnqueued(connection, frame, message);
    let kept: boolean | Promise<boolean>;
    try {
      kept = queue.push(frame.to, message, frame.ttlMs);
    } catch (error) {
      this.#fail(connection, error, frame);
      return undefined;
    }
    if (!isPromiseLike(kept)) return this.#queued(connection, frame, message, kept);
    return Promise.resolve(kept).then(
      (settled) => this.#queued(connection, frame, message, settled),
      (error: unknown) => this.#fail(connection, error, frame),
    );
  }

  /**
   * A direct message from server code (the HTTP API, `server.send`): queued for `to` like one a
   * client sends, then sent to every connection of `to`. `ttlMs` 0: sent to the connections `to`
   * has now, at most once, and never queued.
   * @returns the message id
   * @throws {OfflineQueueFullError} when the queue refused it; {@link NotFoundWireError} when
   *   there is no queue and `to` is offline; {@link OfflineError} for `ttlMs` 0 and `to` offline
   */
  async deliver(to: string, from: string, data: unknown, ttlMs?: number): Promise<string> {
    const message: DirectFrame = { type: 'direct', id: randomId(), from, data, ts: Date.now() };
    const queue = this.#state.offlineQueue;
    if (ttlMs === 0) {
      const targets = this.#state.users.get(to) ?? [];
      if (targets.length === 0) throw new OfflineError(`User ${to} is offline`);
      this.#fanOut(to, message);
      return message.id;
    }
    if (queue === false) {
      if ((this.#state.users.get(to)?.length ?? 0) === 0) throw new NotFoundWireError(`User ${to} is offline`);
    } else if (!(await queue.push(to, message, ttlMs))) {
      throw new OfflineQueueFullError(`The queue of ${to} is full`);
    }
    this.#fanOut(to, message);
    return message.id;
  }

  /** Sends a new connection every message still pending for its user. */
  welcome(connection: Connection): void {
    const queue = this.#state.offlineQueue;
    if (queue === false) return;
    let waiting: readonly DirectFrame[] | Promise<readonly DirectFrame[]>;
    try {
      waiting = queue.pending(connection.userId);
    } catch (error) {
      this.#state.onError(error);
      return;
    }
    if (!isPromiseLike(waiting)) {
      for (const message of waiting) connection.sendFrame(message);
      return;
    }
    this.#held.set(connection, []);
    Promise.resolve(waiting).then(
      (messages) => this.#release(connection, messages),
      (error: unknown) => {
        this.#state.onError(error);
        this.#release(connection, []);
      },
    );
  }

  /** Handles an `ack`: the acknowledged messages of the connection's user leave the queue. */
  ack(connection: Connection, frame: AckFrame): void {
    const answer = (): void => {
      if (frame.ref !== undefined) connection.sendFrame({ type: 'ok', ref: frame.ref });
    };
    const queue = this.#state.offlineQueue;
    if (queue === false) return answer();
    let done: void | Promise<void>;
    try {
      done = queue.ack(connection.userId, frame.direct);
    } catch (error) {
      this.#fail(connection, error, frame);
      return;
    }
    if (!isPromiseLike(done)) return answer();
    Promise.resolve(done).then(answer, (error: unknown) => this.#fail(connection, error, frame));
  }

  /** Forgets a connection that closed. */
  disconnected(connection: Connection): void {
    this.#held.delete(connection);
  }

  #queued(connection: Connection, frame: DirectSendFrame, message: DirectFrame, kept: boolean): void {
    if (!kept) {
      connection.error(new OfflineQueueFullError(`The queue of ${frame.to} is full`), frame.ref, 'direct');
      return;
    }
    this.#fanOut(frame.to, message);
    if (frame.ref !== undefined) connection.sendFrame({ type: 'ok', ref: frame.ref });
  }

  /** Sends a queued message to every connection `to` has here now (one made during the push too). */
  #fanOut(to: string, message: DirectFrame): void {
    if (this.#sendToUser(to, message) === 0 && this.#state.offlineQueue !== false) this.#state.counters.offlineQueued++;
  }

  /** Sends `message` to every connection of `userId` here. @returns how many */
  #sendToUser(userId: string, message: DirectFrame): number {
    const targets = this.#state.users.get(userId) ?? [];
    for (const target of targets) {
      const held = this.#held.get(target);
      if (held === undefined) target.sendFrame(message);
      else held.push(message);
    }
    return targets.length;
  }

  #sendUnqueued(connection: Connection, frame: DirectSendFrame, message: DirectFrame): void {
    const targets = this.#state.users.get(frame.to) ?? [];
    if (targets.length === 0) {
      connection.error(new NotFoundWireError(`User ${frame.to} is offline`), frame.ref, 'direct');
      return;
    }
    for (const target of targets) target.sendFrame(message);
    if (frame.ref !== undefined) connection.sendFrame({ type: 'ok', ref: frame.ref });
  }

  /** Sends the pending messages read for `connection`, then what arrived meanwhile. */
  #release(connection: Connection, messages: readonly DirectFrame[]): void {
    const held = this.#held.get(connection);
    this.#held.delete(connection);
    if (held === undefined || connection.state !== 'open') return;
    const sent = new Set<string>();
    for (const message of messages) {
      sent.add(message.id);
      connection.sendFrame(message);
    }
    for (const message of held) if (!sent.has(message.id)) connection.sendFrame(message);
  }

  #fail(connection: Connection, error: unknown, frame: DirectSendFrame | AckFrame): void {
    const wire = toWireError(error);
    if (wire.code === 'INTERNAL') this.#state.onError(error);
    connection.error(wire, frame.ref, frame.type);
  }
}

function isPromiseLike<T>(value: unknown): value is PromiseLike<T> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
