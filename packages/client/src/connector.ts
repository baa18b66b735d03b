/**
 * The seam between the client and a carrier (WebSocket, TCP, ...). A connector opens one
 * connection per call and speaks whole frames as JSON text; the client does the rest.
 */

/** What a connector reports about one connection. Called at most once each for `onOpen` and `onClose`. */
export interface ConnectionHandlers {
  /** The carrier is open: frames may be sent. */
  onOpen(): void;
  /** One whole frame arrived (JSON text). */
  onFrame(text: string): void;
  /** The connection ended; `error` says why when it was not a clean close. */
  onClose(error?: Error): void;
}

/** One open (or opening) connection. */
export interface Connection {
  /** The carrier it runs on (`websocket`, `http`, `tcp`); shown as `client.carrier`. */
  readonly carrier?: string;
  /** Writes one frame (JSON text). Frames written before `onOpen` are not allowed. */
  send(text: string): void;
  /** Ends the connection; `onClose` follows. Safe to call more than once. */
  close(): void;
}

/** Opens a connection and reports on it through `handlers`. */
export type Connector = (handlers: ConnectionHandlers) => Connection;
