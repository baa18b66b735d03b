/**
 * The seam between the server and a carrier. An adapter accepts connections and hands each one
 * over as a {@link TransportSocket} carrying whole protocol frames (text); the server never sees
 * WebSocket messages or TCP bytes. WebSocket (`ws-adapter.ts`) and TCP (`tcp-adapter.ts`) are
 * built in; another carrier implements these two interfaces.
 */
import type { WireError } from './errors.js';

/** What the client sent while connecting (WebSocket upgrade request; empty for TCP). */
export interface Handshake {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The query string of the upgrade URL, one value per name. */
  readonly query: Readonly<Record<string, string>>;
  readonly url: string | undefined;
}

/** Callbacks the server installs on a socket with {@link TransportSocket.start}. */
export interface SocketHandler {
  /** One whole frame arrived. */
  frame(text: string): void;
  /** The carrier rejected input (oversized); `fatal` when the connection cannot go on. */
  invalid(error: WireError, fatal: boolean): void;
  /** The socket flushed what it had buffered; more may be written. */
  drain(): void;
  /** The connection is gone (either side closed it, or it failed). Called once. */
  closed(): void;
}

/** One accepted connection, as the server sees it. */
export interface TransportSocket {
  /** The carrier's name: `ws`, `tcp`, ... */
  readonly transport: string;
  readonly remoteAddress: string | undefined;
  readonly handshake: Handshake;
  /** Bytes written but not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /** Whether the socket is over its high-water mark; `drain` follows once it is not. */
  readonly needsDrain: boolean;
  /** Installs the handler; no frame is delivered before. */
  start(handler: SocketHandler): void;
  /**
   * Writes the frames (JSON text, or its UTF-8 bytes) in order, combined into as few system calls
   * as the carrier allows.
   */
  write(frames: readonly (string | Buffer)[]): void;
  /** Stops reading (backpressure on a fast publisher). */
  pause(): void;
  resume(): void;
  /** Flushes what was written, then closes. */
  end(): void;
  /** Closes at once, dropping what is buffered. */
  destroy(): void;
}

/** Accepts connections of one carrier. */
export interface TransportAdapter {
  readonly transport: string;
  /** Starts accepting; resolves once listening. */
  listen(accept: (socket: TransportSocket) => void): Promise<void>;
  /** Stops accepting new connections; existing ones stay open. Resolves once stopped. */
  stop(): Promise<void>;
}

export const EMPTY_HANDSHAKE: Handshake = Object.freeze({ headers: Object.freeze({}), query: Object.freeze({}), url: undefined });
