/**
 * The calls of one connection that outlive a frame: requests its client sent (each with an
 * AbortSignal; a handler's async iterable is pulled as a stream only while the connection can take
 * more) and requests the server sent to its client, waiting for their answers. All of them end
 * when the connection ends: streams are finalized (`return()` on their iterator), signals
 * aborted, and unanswered server requests rejected with `DISCONNECTED`.
 */
import {
  ClientAnswerError,
  DisconnectedWireError,
  InvalidFieldError,
  RequestTimeoutWireError,
  StreamRequiredError,
  TooManyStreamsError,
  WireError,
  toWireError,
} from './errors.js';
import { countIn, type Counters, type ServerRequestResult } from './metrics.js';
import type { RequestHandler } from './options.js';
import type { ErrorAnswerFrame, Ref, RequestFrame, ResponseFrame, ServerFrame } from './protocol.js';

/** What the calls need from their connection. */
export interface CallsHost {
  readonly maxStreams: number;
  /** The server's counters: streams and server requests are counted there. */
  readonly counters: Counters;
  /** Queues a frame; false when it could not be encoded (an `INTERNAL` error answered its ref). */
  sendFrame(frame: ServerFrame): boolean;
  /** Answers `ref` with an `error` frame for `error`. */
  error(error: WireError, ref?: Ref, frame?: string): void;
  /** Passes an error with no client to go to to the server's `onError`. */
  report(error: unknown): void;
  /**
   * Undefined while the connection's outgoing queue and socket can take more; else a promise that
   * resolves once they can.
   */
  whenWritable(): Promise<void> | undefined;
  /** Whether the connection is authenticated and not closing. */
  readonly isOpen: boolean;
}

interface RunningStream {
  readonly controller: AbortController;
  iterator: AsyncIterator<unknown> | undefined;
  cancelled: boolean;
  /** How it finished, once counted (see {@link ConnectionCalls.#conclude}). */
  outcome: StreamOutcome | undefined;
}

type StreamOutcome = 'end' | 'cancelled' | 'error';

interface AwaitedAnswer {
  readonly resolve: (data: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
  /** `performance.now()` when sent, or 0 when nobody times server requests (metrics off). */
  readonly started: number;
}

/** Items a stream sends before it lets the event loop turn, when nothing else makes it wait. */
const YIELD_EVERY = 256;

/** Whether a handler's result is a stream: an object with `Symbol.asyncIterator`. */
export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}

export class ConnectionCalls {
  readonly #host: CallsHost;
  /** Streams by the ref of the client's request, from the call of the handler to their end. */
  readonly #streams = new Map<Ref, RunningStream>();
  /** Signals of plain requests whose handler is still running. */
  readonly #signals = new Set<AbortController>();
  /** Server requests to the client, by the server's ref. */
  readonly #awaited = new Map<number, AwaitedAnswer>();
  #nextRef = 1;
  #closed = false;

  constructor(host: CallsHost) {
    this.#host = host;
  }

  /** Streams running now. */
  get streams(): number {
    return this.#streams.size;
  }

  /** Server requests waiting for the client's answer. */
  get awaiting(): number {
    return this.#awaited.size;
  }

  /**
   * Runs `handler` for the client's `request` and answers it: one `response`, or, for a stream
   * (`frame.stream` and a handler that returns an async iterable), a `response` with `more` per
   * item and then `end`; a failure at any point is one `error` with the frame's ref.
   */
  async run(handler: RequestHandler, frame: RequestFrame, connection: Parameters<RequestHandler>[1]['connection']): Promise<void> {
    // A frame handled after the connection ended (one pipelined behind its hello) starts nothing.
    if (this.#closed) return;
    const { ref } = frame;
    const controller = new AbortController();
    let stream: RunningStream | undefined;
    if (frame.stream === true) {
      // The slot is taken before the handler runs: the limit holds however long it takes.
      if (this.#streams.has(ref)) {
        this.#host.error(new InvalidFieldError('`ref` names a stream that is still running'), ref, 'request');
        return;
      }
      if (this.#streams.size >= this.#host.maxStreams) {
        this.#host.error(new TooManyStreamsError(`More than ${this.#host.maxStreams} streams on one connection`), ref, 'request');
        return;
      }
      stream = { controller, iterator: undefined, cancelled: false, outcome: undefined };
      this.#streams.set(ref, stream);
      this.#host.counters.streamsOpened++;
    } else {
      this.#signals.add(controller);
    }
    try {
      if (this.#closed) controller.abort();
      let result: unknown;
      try {
        result = await handler(frame.data, { op: frame.op, connection, signal: controller.signal });
      } catch (error) {
        if (!controller.signal.aborted) {
          this.#fail(error, ref);
          if (stream !== undefined) this.#conclude(stream, 'error');
        }
        return;
      }
      if (isAsyncIterable(result)) {
        if (stream === undefined) {
          finalize(result[Symbol.asyncIterator](), this.#host);
          this.#host.error(new StreamRequiredError(`Operation ${JSON.stringify(frame.op.slice(0, 64))} answers with a stream`), ref, 'request');
          return;
        }
        await this.#pull(ref, stream, result);
        return;
      }
      if (!controller.signal.aborted) this.#host.sendFrame({ type: 'response', ref, data: result === undefined ? null : result });
    } finally {
      if (stream !== undefined) {
        if (this.#streams.get(ref) === stream) this.#streams.delete(ref);
        // Answered with a plain value (one `response`), or stopped while its handler ran.
        this.#conclude(stream, stream.cancelled ? 'cancelled' : 'end');
      }
      this.#signals.delete(controller);
    }
  }

  /** Sends the items of a stream while the connection can take them; ends with `end` or `error`. */
  async #pull(ref: Ref, stream: RunningStream, iterable: AsyncIterable<unknown>): Promise<void> {
    let iterator: AsyncIterator<unknown>;
    try {
      iterator = iterable[Symbol.asyncIterator]();
    } catch (error) {
      this.#fail(error, ref);
      this.#conclude(stream, 'error');
      return;
    }
    stream.iterator = iterator;
    // Cancelled while the handler ran: the iterator still has to be finalized.
    if (stream.cancelled) {
      finalize(iterator, this.#host);
      return;
    }
    try {
      for (let pulled = 1; ; pulled++) {
        // Flow control: a connection whose queue is half full or whose socket is draining gets
        // no next item until it catches up, so a slow reader never makes the stream pile up.
        const congested = this.#host.whenWritable();
        if (congested !== undefined) await congested;
        // A generator that never waits would hold the event loop (items a `beforeSend` hook drops
        // never fill the queue): every so often the other connections get their turn.
        else if (pulled % YIELD_EVERY === 0) await new Promise<void>((resolve) => setImmediate(resolve));
        if (stream.cancelled) return;
        const next = await iterator.next();
        if (stream.cancelled) return;
        if (next.done === true) {
          this.#host.sendFrame({ type: 'end', ref });
          this.#conclude(stream, 'end');
          return;
        }
        if (!this.#host.sendFrame({ type: 'response', ref, data: next.value === undefined ? null : next.value, more: true })) {
          // The item could not be encoded: its ref got `INTERNAL`, and the stream stops there.
          this.#conclude(stream, 'error');
          stream.cancelled = true;
          finalize(iterator, this.#host);
          return;
        }
        this.#host.counters.streamItems++;
      }
    } catch (error) {
      if (!stream.cancelled) {
        this.#fail(error, ref);
        this.#conclude(stream, 'error');
      }
    }
  }

  /**
   * The client's `cancel`: stops the stream of `ref` and answers `end`, its last frame. A ref that
   * names no running stream (it ended already: its `end` or `error` is on its way) is ignored.
   */
  cancel(ref: Ref): void {
    const stream = this.#streams.get(ref);
    if (stream === undefined) return;
    this.#streams.delete(ref);
    this.#stop(stream);
    this.#host.sendFrame({ type: 'end', ref });
  }

  /** Counts how `stream` finished, once: the first outcome decided is the one counted. */
  #conclude(stream: RunningStream, outcome: StreamOutcome): void {
    if (stream.outcome !== undefined) return;
    stream.outcome = outcome;
    countIn(this.#host.counters.streamsEnded, outcome);
  }

  #stop(stream: RunningStream): void {
    this.#conclude(stream, 'cancelled');
    if (stream.cancelled) return;
    stream.cancelled = true;
    stream.controller.abort();
    if (stream.iterator !== undefined) finalize(stream.iterator, this.#host);
  }

  /**
   * Sends `op` to the client as a request and resolves with its answer.
   * @throws nothing; rejects with DisconnectedWireError, RequestTimeoutWireError or ClientAnswerError
   */
  request(op: string, data: unknown, timeoutMs: number): Promise<unknown> {
    if (this.#closed || !this.#host.isOpen) {
      this.#settled('disconnected', 0);
      return Promise.reject(new DisconnectedWireError('The connection is not open'));
    }
    const ref = this.#nextRef++;
    const frame: RequestFrame = data === undefined ? { type: 'request', ref, op } : { type: 'request', ref, op, data };
    const started = this.#host.counters.serverRequestObserver === undefined ? 0 : performance.now();
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.#awaited.delete(ref)) return;
        this.#settled('timeout', started);
        reject(new RequestTimeoutWireError(`The client did not answer ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#awaited.set(ref, { resolve, reject, timer, started });
      if (!this.#host.sendFrame(frame)) {
        this.#settled('error', started);
        this.#settle(ref)?.reject(new TypeError('Expected `data` to be JSON-encodable'));
      }
    });
  }

  /** The client's answer to a server request; an answer to no waiting request (late, unknown) is ignored. */
  answer(frame: ResponseFrame | ErrorAnswerFrame): void {
    if (typeof frame.ref !== 'number') return;
    const awaited = this.#settle(frame.ref);
    if (awaited === undefined) return;
    this.#settled(frame.type === 'response' ? 'ok' : 'error', awaited.started);
    if (frame.type === 'response') awaited.resolve(frame.data);
    else awaited.reject(new ClientAnswerError(frame.code, frame.message ?? frame.code));
  }

  /** Counts a server request that settled with `result`, and times it from `started` when that is set. */
  #settled(result: ServerRequestResult, started: number): void {
    const counters = this.#host.counters;
    countIn(counters.serverRequests, result);
    if (started > 0) counters.serverRequestObserver?.(result, (performance.now() - started) / 1000);
  }

  #settle(ref: number): AwaitedAnswer | undefined {
    const awaited = this.#awaited.get(ref);
    if (awaited === undefined) return undefined;
    this.#awaited.delete(ref);
    clearTimeout(awaited.timer);
    return awaited;
  }

  /** The connection ended: every stream stops, every signal aborts, every awaited answer fails. */
  closed(): void {
    if (this.#closed) return;
    this.#closed = true;
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const stream of streams) this.#stop(stream);
    for (const controller of this.#signals) controller.abort();
    const awaited = [...this.#awaited.values()];
    this.#awaited.clear();
    for (const { reject, timer, started } of awaited) {
      this.#settled('disconnected', started);
      clearTimeout(timer);
      reject(new DisconnectedWireError('The connection ended before the client answered'));
    }
  }

  #fail(error: unknown, ref: Ref): void {
    const wire = toWireError(error);
    if (wire.code === 'INTERNAL') this.#host.report(error);
    this.#host.error(wire, ref, 'request');
  }
}

/** Calls `return()` on an iterator that is being abandoned; what it throws goes to `onError`. */
function finalize(iterator: AsyncIterator<unknown>, host: CallsHost): void {
  let returned: unknown;
  try {
    returned = iterator.return?.();
  } catch (error) {
    host.report(error);
    return;
  }
  if (returned instanceof Promise) returned.catch((error: unknown) => host.report(error));
}
