import { connect, type Socket } from 'node:net';
import type { Connection, ConnectionHandlers, Connector } from './connector.js';
import { ConnectionFailedError, InvalidOptionError } from './errors.js';
import { TcpFrameDecoder, encodeTcpFrame } from './tcp-framing.js';

/** Options of {@link tcpConnector}. */
export interface TcpConnectorOptions {
  /** The server's host. @default '127.0.0.1' */
  host?: string;
  /** The server's TCP port. */
  port: number;
}

/**
 * A connector for the TCP carrier (length-prefixed JSON frames). Node only.
 * @example
 * const client = new MsghubClient({ connector: tcpConnector({ host: 'hub.internal', port: 7000 }) });
 */
export function tcpConnector(options: TcpConnectorOptions): Connector {
  const { port } = options;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new InvalidOptionError(`Expected options.port to be an integer in 1..65535, got ${String(port)}`);
  }
  const host = options.host ?? '127.0.0.1';
  return function openTcp(handlers: ConnectionHandlers): Connection {
    return new TcpConnection(connect({ host, port, noDelay: true }), handlers);
  };
}

const connections = new WeakMap<Socket, TcpConnection>();

/** How long closing waits for queued frames to be flushed before it destroys the socket. */
const FLUSH_TIMEOUT_MS = 2000;

function destroySocket(socket: Socket): void {
  socket.destroy();
}

/** Adapts one TCP socket to {@link Connection}; reports `onClose` exactly once. */
class TcpConnection implements Connection {
  readonly carrier = 'tcp';
  readonly #socket: Socket;
  readonly handlers: ConnectionHandlers;
  readonly decoder = new TcpFrameDecoder();
  error: Error | undefined;
  #closed = false;

  constructor(socket: Socket, handlers: ConnectionHandlers) {
    this.#socket = socket;
    this.handlers = handlers;
    connections.set(socket, this);
    socket.on('connect', socketOnConnect);
    socket.on('data', socketOnData);
    socket.on('error', socketOnError);
    socket.on('close', socketOnClose);
  }

  send(text: string): void {
    this.#socket.write(encodeTcpFrame(text));
  }

  close(): void {
    // A socket still connecting has nothing to flush; an open one writes what it queued first.
    if (this.#socket.connecting) {
      this.#socket.destroy();
      return;
    }
    this.#socket.destroySoon();
    // A peer that stopped reading (or a dead path) would hold the flush, and with it the close
    // this connection must report, until TCP itself gives up.
    setTimeout(destroySocket, FLUSH_TIMEOUT_MS, this.#socket).unref();
  }

  end(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.handlers.onClose(this.error);
  }

  get closed(): boolean {
    return this.#closed;
  }

  fail(error: Error): void {
    this.error ??= error;
    this.#socket.destroy();
  }
}

function socketOnConnect(this: Socket): void {
  connections.get(this)?.handlers.onOpen();
}

function socketOnData(this: Socket, chunk: Buffer): void {
  const connection = connections.get(this);
  if (connection === undefined || connection.closed) return;
  let frames: string[];
  try {
    frames = connection.decoder.push(chunk);
  } catch (error) {
    connection.fail(new ConnectionFailedError('Unreadable TCP frame', { cause: error }));
    return;
  }
  for (const frame of frames) {
    if (connection.closed) return;
    connection.handlers.onFrame(frame);
  }
}

function socketOnError(this: Socket, error: Error): void {
  const connection = connections.get(this);
  if (connection !== undefined) connection.error ??= new ConnectionFailedError(error.message, { cause: error });
}

function socketOnClose(this: Socket): void {
  connections.get(this)?.end();
}
