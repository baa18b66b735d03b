import type { ClientFrame, ServerFrame } from '@msghub/transport/protocol';
import type { Connection, ConnectionHandlers, Connector } from '../src/connector.js';

/** The server end of one in-memory connection, driven by the test. */
export class PeerConnection implements Connection {
  readonly received: ClientFrame[] = [];
  closedByClient = false;
  #handlers: ConnectionHandlers;
  #ended = false;

  constructor(handlers: ConnectionHandlers) {
    this.#handlers = handlers;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The frames of one type the client sent on this connection. */
  sent<K extends ClientFrame['type']>(type: K): Extract<ClientFrame, { type: K }>[] {
    return this.received.filter((frame): frame is Extract<ClientFrame, { type: K }> => frame.type === type);
  }

  send(text: string): void {
    if (this.#ended) throw new Error('send on an ended connection');
    this.received.push(JSON.parse(text) as ClientFrame);
  }

  close(): void {
    this.closedByClient = true;
    this.end();
  }

  /** The carrier opened. */
  open(): void {
    this.#handlers.onOpen();
  }

  /** Sends frames to the client. */
  push(...frames: ServerFrame[]): void {
    for (const frame of frames) if (!this.#ended) this.#handlers.onFrame(JSON.stringify(frame));
  }

  /** Opens and completes the handshake. */
  welcome(heartbeatMs = 0): void {
    this.open();
    this.push({ type: 'welcome', v: 1, userId: 'ada', connectionId: 'Jm3eXo1vT0q6a9LbZx4W2g', heartbeatMs, maxFrameBytes: 1 << 20 });
  }

  /** Ends the connection from the server side (or the network), with an optional carrier error. */
  end(error?: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#handlers.onClose(error);
  }
}

/** An in-memory stand-in for a server: every connection attempt becomes a {@link PeerConnection}. */
export class FakePeer {
  readonly connections: PeerConnection[] = [];

  readonly connector: Connector = (handlers) => {
    const connection = new PeerConnection(handlers);
    this.connections.push(connection);
    return connection;
  };

  /** The most recent connection. */
  get last(): PeerConnection {
    const connection = this.connections.at(-1);
    if (connection === undefined) throw new Error('no connection yet');
    return connection;
  }
}

/** Lets pending promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** A room event frame as the server sends it. */
export function eventFrame(room: string, id: number, message = `m${id}`): ServerFrame {
  return {
    type: 'event',
    room,
    event: { id, chatroomId: room, type: 'message', userId: 'bob', message, unixTime: 1_000 + id },
  };
}
