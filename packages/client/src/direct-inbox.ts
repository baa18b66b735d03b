/**
 * Exactly-once user-to-user messages on top of the server's at-least-once delivery: the server
 * sends a `direct` again on every connection until it is acknowledged, so the inbox acknowledges
 * each one it receives (one `ack` frame per turn of the event loop) and delivers an id it has
 * seen recently only the first time.
 */
import type { ClientFrame } from './protocol.js';

/** How many of the latest message ids the inbox remembers to recognise a repeat. */
export const RECENT_DIRECT_IDS = 1024;
/** Most ids in one `ack` frame (`MAX_ACK_IDS` of the protocol). */
export const MAX_ACK_IDS = 1024;
/** Longest `ttlMs` a direct may ask for, 30 days (`MAX_DIRECT_TTL_MS` of the protocol). */
export const MAX_DIRECT_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/** A `direct` frame as it arrives: servers from before acknowledgements sent a numeric `id`. */
export interface ReceivedDirect {
  readonly id: string | number;
  readonly from: string;
  readonly data: unknown;
  readonly ts: number;
}

/** A message handed to the application, its id always a string. */
export interface InboxMessage {
  readonly id: string;
  readonly from: string;
  readonly data: unknown;
  readonly ts: number;
}

/** The connection a message came on, where its acknowledgement goes. */
export interface AckLink {
  readonly ready: boolean;
  send(frame: ClientFrame): void;
}

/**
 * Acknowledges and de-duplicates incoming `direct` messages across reconnects.
 * @example
 * const inbox = new DirectInbox((message) => direct$.next(message));
 * // for every `direct` frame on `link`:
 * inbox.receive(link, frame);
 */
export class DirectInbox {
  readonly #deliver: (message: InboxMessage) => void;
  readonly #schedule: (task: () => void) => void;
  readonly #capacity: number;
  /** The latest ids delivered, oldest first (a Set keeps insertion order). */
  readonly #recent = new Set<string>();
  #acks = new Map<AckLink, Set<string>>();
  #scheduled = false;

  /**
   * @param deliver gets each message once
   * @param schedule runs the batched acknowledgement later in this turn; @default queueMicrotask
   * @param capacity ids remembered; @default {@link RECENT_DIRECT_IDS}
   */
  constructor(deliver: (message: InboxMessage) => void, schedule: (task: () => void) => void = queueMicrotask, capacity = RECENT_DIRECT_IDS) {
    this.#deliver = deliver;
    this.#schedule = schedule;
    this.#capacity = capacity;
  }

  /**
   * Takes a `direct` frame that arrived on `link`: delivers it unless its id was delivered
   * recently, and acknowledges it either way (a repeat means the last acknowledgement was lost).
   * A numeric id comes from a server that neither acknowledges nor keeps ids across restarts: such a
   * message is delivered as it comes, without either.
   */
  receive(link: AckLink, frame: ReceivedDirect): void {
    const { id, from, data, ts } = frame;
    if (typeof id !== 'string') {
      this.#deliver({ id: String(id), from, data, ts });
      return;
    }
    this.#ack(link, id);
    if (this.#recent.has(id)) return;
    this.#recent.add(id);
    if (this.#recent.size > this.#capacity) this.#recent.delete(this.#recent.values().next().value as string);
    this.#deliver({ id, from, data, ts });
  }

  #ack(link: AckLink, id: string): void {
    let ids = this.#acks.get(link);
    if (ids === undefined) {
      ids = new Set();
      this.#acks.set(link, ids);
    }
    ids.add(id);
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#schedule(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    const acks = this.#acks;
    this.#acks = new Map();
    for (const [link, set] of acks) {
      // A link that ended takes its acknowledgements with it: the server sends those messages
      // again on the next connection, where they are recognised and acknowledged.
      if (!link.ready) continue;
      const ids = [...set];
      for (let at = 0; at < ids.length; at += MAX_ACK_IDS) link.send({ type: 'ack', direct: ids.slice(at, at + MAX_ACK_IDS) });
    }
  }
}
