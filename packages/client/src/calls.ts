/**
 * The client's side of streams, server requests and named notifications: the streams it asked for
 * (by ref, cancelled with a `cancel` frame when their last subscriber leaves), the handlers it
 * answers the server's requests with (by op), and the notifications the server sends (by op).
 */
import { Observable, Subject, filter, map, type Subscriber } from 'rxjs';
import { ClientClosedError, DisconnectedError, SendDiscardedError, errorFromWire } from './errors.js';
import type { Link } from './link.js';
import type { ClientFrame, Ref, ServerFrame } from './protocol.js';
import type { SendResult } from './send-buffer.js';

/** What a handler of server requests gets besides the data. */
export interface ServerRequestContext {
  /** The operation the server called. */
  readonly op: string;
}

/**
 * Answers a server request (`server.request(connectionId, op, data)`): returns the answer (or a
 * promise of it), or throws. An error with a `code` of upper-case letters, digits and `_` (1 to 64
 * characters) is answered with that code, anything else with `INTERNAL`.
 */
export type ServerRequestHandler = (data: unknown, context: ServerRequestContext) => unknown;

/** What the calls need from their client. */
export interface CallsHost {
  /** A fresh ref, unique among everything the client sends. */
  nextRef(): number;
  /**
   * Sends a frame now, or keeps it in the send buffer (as `publish` does); `again`: a frame sent
   * before that the server dropped unread, taken even while the client drains.
   */
  send(frame: ClientFrame, again?: boolean): SendResult;
  /** Runs `callback` after `ms` (the client's timers). */
  later(callback: () => void, ms: number): void;
  /** Whether the client takes no new calls (closed or closing). */
  refusing(): boolean;
  /** Something the client's drain waits for has ended (a stream, an answer). */
  changed(): void;
}

interface StreamEntry {
  readonly subscriber: Subscriber<unknown>;
  /** The `request` frame, to send again after a `RATE_LIMITED` with `retryAfterMs`. */
  readonly frame: Extract<ClientFrame, { type: 'request' }>;
  /** The link the request was written to; undefined while it waits in the send buffer. */
  sentOn: Link | undefined;
}

interface Notification {
  readonly op: string;
  readonly data: unknown;
}

const ANSWER_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;

/** The code a thrown error is answered with. */
function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && ANSWER_CODE.test(code) ? code : 'INTERNAL';
}

function isRef(value: unknown): value is Ref {
  return (typeof value === 'string' && value.length <= 128) || (typeof value === 'number' && Number.isSafeInteger(value));
}

function encodable(data: unknown): boolean {
  try {
    return JSON.stringify(data) !== undefined;
  } catch {
    return false;
  }
}

export class ClientCalls {
  readonly #host: CallsHost;
  /** Running streams by the ref of their request. */
  readonly #streams = new Map<Ref, StreamEntry>();
  /** Refs of stream requests whose subscriber left before the request was written. */
  readonly #abandoned = new Set<Ref>();
  /**
   * Streams cancelled on the server, until their last frame (`end`, or an `error` sent before the
   * cancel arrived): what still comes for them is dropped, not taken for an answer of another call.
   */
  readonly #cancelled = new Map<Ref, Link>();
  readonly #handlers = new Map<string, ServerRequestHandler>();
  readonly #notifications = new Subject<Notification>();
  /** Server requests whose handler is still running. */
  #answering = 0;

  constructor(host: CallsHost) {
    this.#host = host;
  }

  /** Whether no stream runs and no server request is being answered. */
  get idle(): boolean {
    return this.#streams.size === 0 && this.#answering === 0;
  }

  /**
   * A cold Observable: each subscription sends one `request` with `stream: true` and emits the
   * items the server sends for it; unsubscribing sends `cancel`.
   */
  stream<T>(op: string, input: unknown): Observable<T> {
    return new Observable<T>((subscriber) => {
      if (this.#host.refusing()) {
        subscriber.error(new ClientClosedError('The client is closed'));
        return undefined;
      }
      const ref = this.#host.nextRef();
      const frame: StreamEntry['frame'] =
        input === undefined ? { type: 'request', ref, op, stream: true } : { type: 'request', ref, op, data: input, stream: true };
      const entry: StreamEntry = { subscriber: subscriber as Subscriber<unknown>, frame, sentOn: undefined };
      this.#streams.set(ref, entry);
      // A discard (buffer full, client closed) ends the entry through `discarded`.
      this.#host.send(frame);
      return () => this.#unsubscribed(ref, entry);
    });
  }

  #unsubscribed(ref: Ref, entry: StreamEntry): void {
    if (this.#streams.get(ref) !== entry) return;
    this.#streams.delete(ref);
    this.#host.changed();
    const link = entry.sentOn;
    if (link === undefined) this.#abandoned.add(ref);
    else if (link.ready) this.#cancel(link, ref);
  }

  #cancel(link: Link, ref: Ref): void {
    this.#cancelled.set(ref, link);
    link.send({ type: 'cancel', ref });
  }

  /** A frame was written to `link`: a stream request's entry now waits on that link. */
  written(frame: ClientFrame, link: Link): void {
    if (frame.type !== 'request' || frame.stream !== true) return;
    const entry = this.#streams.get(frame.ref);
    if (entry !== undefined) entry.sentOn = link;
    else if (this.#abandoned.delete(frame.ref)) this.#cancel(link, frame.ref);
  }

  /** A frame with `ref` was dropped from the send buffer, never written. */
  discarded(ref: Ref, error: SendDiscardedError): void {
    this.#abandoned.delete(ref);
    this.#end(ref)?.subscriber.error(error);
  }

  /**
   * Handles the frames that belong to streams, server requests and notifications.
   * @returns whether the frame was one of them
   */
  receive(link: Link, frame: ServerFrame): boolean {
    if ((frame.type === 'response' || frame.type === 'end' || frame.type === 'error') && frame.ref !== undefined && this.#cancelled.has(frame.ref)) {
      if (frame.type !== 'response' || frame.more !== true) this.#cancelled.delete(frame.ref);
      return true;
    }
    switch (frame.type) {
      case 'response': {
        const entry = this.#streams.get(frame.ref);
        if (entry === undefined) return false;
        entry.subscriber.next(frame.data);
        // A handler that answered with one value rather than a stream: that value is the stream.
        if (frame.more !== true) this.#end(frame.ref)?.subscriber.complete();
        return true;
      }
      case 'end':
        this.#end(frame.ref)?.subscriber.complete();
        return true;
      case 'error': {
        const entry = frame.ref === undefined ? undefined : this.#streams.get(frame.ref);
        if (entry === undefined) return false;
        if (frame.code === 'RATE_LIMITED' && typeof frame.retryAfterMs === 'number') {
          // Dropped unread: sent again after the delay, unless the subscriber left meanwhile.
          entry.sentOn = undefined;
          const { ref } = entry.frame;
          this.#host.later(() => {
            if (this.#streams.get(ref) === entry) this.#host.send(entry.frame, true);
            else this.#abandoned.delete(ref);
          }, frame.retryAfterMs);
          return true;
        }
        this.#end(frame.ref as Ref)?.subscriber.error(errorFromWire(frame));
        return true;
      }
      case 'request':
        void this.#answer(link, frame);
        return true;
      case 'notify':
        if (typeof frame.op === 'string') this.#notifications.next({ op: frame.op, data: frame.data });
        return true;
      default:
        return false;
    }
  }

  /** Registers the handler of the server's requests for `op` (replacing an earlier one). */
  handle(op: string, handler: ServerRequestHandler): void {
    this.#handlers.set(op, handler);
  }

  /** The data of every notification `op` the server sends. */
  notifications<T>(op: string): Observable<T> {
    return this.#notifications.pipe(
      filter((notification) => notification.op === op),
      map((notification) => notification.data as T),
    );
  }

  async #answer(link: Link, frame: Extract<ServerFrame, { type: 'request' }>): Promise<void> {
    const { ref, op } = frame;
    if (!isRef(ref)) return;
    const handler = typeof op === 'string' ? this.#handlers.get(op) : undefined;
    if (handler === undefined) {
      link.send({ type: 'error', ref, code: 'UNKNOWN_OP', message: `No handler for ${JSON.stringify(String(op).slice(0, 64))}` });
      return;
    }
    this.#answering++;
    let answer: ClientFrame;
    try {
      const data: unknown = await handler(frame.data, { op });
      const value = data === undefined ? null : data;
      answer = encodable(value)
        ? { type: 'response', ref, data: value }
        : { type: 'error', ref, code: 'INTERNAL', message: 'The answer could not be encoded as JSON' };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      answer = { type: 'error', ref, code: codeOf(error), message: message.slice(0, 1024) };
    }
    this.#answering--;
    // An answer for a connection that has ended is dropped: the server failed the request already.
    if (link.ready) link.send(answer);
    this.#host.changed();
  }

  /** The link ended: streams running on it fail with {@link DisconnectedError}. */
  linkEnded(link: Link, cause: Error): void {
    for (const [ref, on] of [...this.#cancelled]) if (on === link) this.#cancelled.delete(ref);
    for (const [ref, entry] of [...this.#streams]) {
      if (entry.sentOn === link) this.#end(ref)?.subscriber.error(new DisconnectedError('The connection dropped during the stream', { cause }));
    }
  }

  /**
   * The client closes: running streams fail with `error` (the server cancels them when the
   * connection ends, which follows); notifications complete.
   */
  shutdown(error: Error): void {
    for (const ref of [...this.#streams.keys()]) this.#end(ref)?.subscriber.error(error);
    this.#abandoned.clear();
    this.#cancelled.clear();
    this.#notifications.complete();
  }

  #end(ref: Ref): StreamEntry | undefined {
    const entry = this.#streams.get(ref);
    if (entry === undefined) return undefined;
    this.#streams.delete(ref);
    this.#host.changed();
    return entry;
  }
}
