/**
 * TCP carrier: length-prefixed frames (`tcp-framing.ts`) over `net`. A batch of frames goes out
 * as one buffer, so one write per flush.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { EMPTY_HANDSHAKE, type Handshake, type SocketHandler, type TransportAdapter, type TransportSocket } from './adapter.js';
import { toWireError } from './errors.js';
import { boundAddress, listenOn } from './listening.js';
import { encodeTcpFrames, TcpFrameDecoder } from './tcp-framing.js';

/** Options of {@link TcpAdapter}. */
export interface TcpAdapterOptions {
  /** @default 0 (any free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Largest frame body accepted (capped at 4 MiB). */
  maxFrameBytes: number;
  /** Errors of the listening socket once bound (an accept that failed). @default console.error */
  onError?: (error: unknown) => void;
}

const kConnection = Symbol('msghub.tcp');
type TaggedSocket = Socket & { [kConnection]: TcpConnection };

class TcpConnection implements TransportSocket {
  readonly transport = 'tcp';
  readonly handshake: Handshake = EMPTY_HANDSHAKE;
  readonly #socket: Socket;
  readonly #decoder: TcpFrameDecoder;
  handler: SocketHandler | undefined;
  #closed = false;

  constructor(socket: Socket, maxFrameBytes: number) {
    this.#socket = socket;
    this.#decoder = new TcpFrameDecoder(maxFrameBytes);
    (socket as TaggedSocket)[kConnection] = this;
    socket.setNoDelay(true);
    socket.on('error', socketOnError);
    socket.on('close', socketOnClose);
    socket.on('drain', socketOnDrain);
  }

  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  get needsDrain(): boolean {
    return this.#socket.writableNeedDrain;
  }

  start(handler: SocketHandler): void {
    this.handler = handler;
    this.#socket.on('data', socketOnData);
  }

  receive(chunk: Buffer): void {
    let frames: string[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (error) {
      this.#socket.off('data', socketOnData);
      this.handler?.invalid(toWireError(error), true);
      return;
    }
    for (const frame of frames) {
      if (this.#closed) return;
      this.handler?.frame(frame);
    }
  }

  write(frames: readonly (string | Buffer)[]): void {
    if (this.#closed || this.#socket.writableEnded) return;
    this.#socket.write(encodeTcpFrames(frames));
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  end(): void {
    this.#socket.end();
    // A peer that never reads cannot hold the socket open forever.
    setTimeout(destroySocket, 2000, this.#socket).unref();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.handler?.closed();
  }
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}

function socketOnData(this: Socket, chunk: Buffer): void {
  (this as TaggedSocket)[kConnection].receive(chunk);
}

function socketOnError(this: Socket): void {
  // 'close' follows; the error itself (ECONNRESET, EPIPE) says nothing the server can act on.
}

function socketOnClose(this: Socket): void {
  (this as TaggedSocket)[kConnection].onClose();
}

function socketOnDrain(this: Socket): void {
  (this as TaggedSocket)[kConnection].handler?.drain();
}

/** Accepts TCP connections on a port. */
export class TcpAdapter implements TransportAdapter {
  readonly transport = 'tcp';
  readonly #options: TcpAdapterOptions;
  readonly #server: Server;

  constructor(options: TcpAdapterOptions) {
    this.#options = options;
    this.#server = createServer({ noDelay: true });
  }

  /** The bound address, once listening. */
  address(): AddressInfo | undefined {
    return boundAddress(this.#server);
  }

  listen(accept: (socket: TransportSocket) => void): Promise<void> {
    const maxFrameBytes = this.#options.maxFrameBytes;
    this.#server.on('connection', (socket: Socket) => {
      accept(new TcpConnection(socket, maxFrameBytes));
    });
    return listenOn(this.#server, this.#options.port, this.#options.host, this.#options.onError);
  }

  stop(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (!this.#server.listening) resolve();
      else this.#server.close(() => resolve());
    });
  }
}
