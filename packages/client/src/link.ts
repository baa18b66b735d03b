import type { Timers } from './clock.js';
import type { Connection, ConnectionHandlers, Connector } from './connector.js';
import {
  ClientError,
  ConnectTimeoutError,
  ConnectionEndedError,
  ConnectionFailedError,
  errorFromWire,
} from './errors.js';
import { PROTOCOL_VERSION, isServerFrame, type ClientFrame, type HelloFrame, type ServerFrame, type WelcomeFrame } from './protocol.js';
import type { TokenSource } from './options.js';

/** What a link reports to its owner. */
export interface LinkEvents {
  /** The handshake finished. */
  welcome(link: Link, frame: WelcomeFrame): void;
  /** A frame arrived after `welcome` (pings are answered by the link itself). */
  frame(link: Link, frame: ServerFrame): void;
  /** The link ended, with the reason; called exactly once. */
  end(link: Link, error: ClientError): void;
}

/** How one link opens and watches its connection. */
export interface LinkOptions {
  readonly connector: Connector;
  readonly token: TokenSource | undefined;
  readonly user: string | undefined;
  readonly meta: Record<string, unknown> | undefined;
  readonly connectTimeoutMs: number;
  /** undefined: twice the server's heartbeat interval. 0: no check. */
  readonly heartbeatTimeoutMs: number | undefined;
  readonly timers: Timers;
}

/**
 * One connection attempt and, once welcomed, one live connection: the `hello`/`welcome`
 * handshake, answers to server pings, the connect timeout and the dead-connection watchdog.
 */
export class Link implements ConnectionHandlers {
  readonly #options: LinkOptions;
  readonly #events: LinkEvents;
  #connection: Connection | undefined;
  #welcome: WelcomeFrame | undefined;
  /** The first reason recorded wins: what the server said beats what the carrier saw. */
  #error: ClientError | undefined;
  #ended = false;
  #timer: unknown;
  #silenceMs = 0;
  #lastFrameAt = 0;

  constructor(options: LinkOptions, events: LinkEvents) {
    this.#options = options;
    this.#events = events;
  }

  /**
   * Opens the connection. Separate from the constructor so that the owner holds the link before
   * the connector runs: a connector may report the end before it returns.
   * @throws what the connector throws
   */
  open(): void {
    const options = this.#options;
    this.#connection = options.connector(this);
    if (!this.#ended) this.#timer = options.timers.setTimeout(() => this.#connectTimedOut(), options.connectTimeoutMs);
  }

  /** The carrier of the link's connection, when its connector names one. */
  get carrier(): string | undefined {
    return this.#connection?.carrier;
  }

  /** Whether the handshake finished and the link has not ended. */
  get ready(): boolean {
    return this.#welcome !== undefined && !this.#ended;
  }

  /**
   * Writes `frame`. Never throws: a carrier that refuses the write (a socket already closing)
   * ends the link instead, so callers waiting for an answer learn it through the link's end.
   */
  send(frame: ClientFrame): void {
    try {
      (this.#connection as Connection).send(JSON.stringify(frame));
    } catch (error) {
      this.close(new ConnectionFailedError('The connection refused a write', { cause: error }));
    }
  }

  /** Ends the link; `error` becomes the reason reported to `end` unless one was recorded first. */
  close(error?: ClientError): void {
    if (error !== undefined) this.#error ??= error;
    this.#connection?.close();
  }

  /** The carrier opened: say hello. (Connection handler; not for callers.) */
  onOpen(): void {
    void this.#hello();
  }

  /** One frame arrived. (Connection handler; not for callers.) */
  onFrame(text: string): void {
    this.#frame(text);
  }

  /** The carrier closed. (Connection handler; not for callers.) */
  onClose(error?: Error): void {
    this.#end(error);
  }

  async #hello(): Promise<void> {
    let token: string | undefined;
    try {
      const source = this.#options.token;
      token = typeof source === 'function' ? await source() : source;
    } catch (error) {
      this.close(new ConnectionFailedError('The token source failed', { cause: error }));
      return;
    }
    if (this.#ended) return;
    const hello: HelloFrame = { type: 'hello', v: PROTOCOL_VERSION };
    if (token !== undefined) hello.token = token;
    if (this.#options.user !== undefined) hello.user = this.#options.user;
    if (this.#options.meta !== undefined) hello.meta = this.#options.meta;
    this.send(hello);
  }

  #frame(text: string): void {
    if (this.#ended) return;
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch (error) {
      this.close(new ConnectionFailedError('The server sent a frame that is not JSON', { cause: error }));
      return;
    }
    if (!isServerFrame(frame)) return;
    this.#lastFrameAt = this.#options.timers.now();
    if (frame.type === 'ping') {
      this.send(frame.ts === undefined ? { type: 'pong' } : { type: 'pong', ts: frame.ts });
      return;
    }
    if (frame.type === 'bye' || frame.type === 'kicked') {
      this.#error ??= new ConnectionEndedError({ code: frame.code, message: frame.reason ?? frame.code });
      return;
    }
    if (this.#welcome !== undefined) {
      this.#events.frame(this, frame);
    } else if (frame.type === 'welcome') {
      this.#welcomed(frame);
    } else if (frame.type === 'error') {
      // Before `welcome` an error means the handshake failed; the server closes next.
      this.close(errorFromWire(frame));
    }
  }

  #welcomed(frame: WelcomeFrame): void {
    this.#welcome = frame;
    this.#options.timers.clearTimeout(this.#timer);
    const configured = this.#options.heartbeatTimeoutMs;
    this.#silenceMs = configured ?? (frame.heartbeatMs > 0 ? 2 * frame.heartbeatMs : 0);
    this.#timer = undefined;
    if (this.#silenceMs > 0) this.#timer = this.#options.timers.setTimeout(() => this.#checkSilence(), this.#silenceMs);
    this.#events.welcome(this, frame);
  }

  #connectTimedOut(): void {
    this.#timer = undefined;
    this.close(new ConnectTimeoutError(`No welcome within ${this.#options.connectTimeoutMs} ms`));
  }

  #checkSilence(): void {
    const silent = this.#options.timers.now() - this.#lastFrameAt;
    if (silent >= this.#silenceMs) {
      this.#timer = undefined;
      this.close(new ConnectionFailedError(`No frame from the server for ${silent} ms (heartbeat timeout)`));
      return;
    }
    this.#timer = this.#options.timers.setTimeout(() => this.#checkSilence(), this.#silenceMs - silent);
  }

  #end(error: Error | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#timer !== undefined) this.#options.timers.clearTimeout(this.#timer);
    const reason =
      this.#error ??
      (error instanceof ClientError ? error : undefined) ??
      new ConnectionFailedError(error?.message ?? 'The connection closed', error === undefined ? undefined : { cause: error });
    this.#events.end(this, reason);
  }
}
