/**
 * `@msghub/client`: the universal entry, safe for browsers (no Node modules). In Node, import
 * `@msghub/client/node` for the `ws` and TCP connectors.
 */
export { MsghubClient } from './client.js';
export type {
  AckOptions,
  CloseOptions,
  ConnectionState,
  DirectAsyncOptions,
  DirectMessage,
  DirectOptions,
  PendingSend,
  PublishOptions,
  RequestOptions,
  RoomSignal,
} from './client.js';
export type { ServerRequestContext, ServerRequestHandler } from './calls.js';
export { createClient } from './create-client.js';
export type { CreateClientOptions } from './create-client.js';
export type { ClientOptions, Discarded, TokenSource } from './options.js';
export type { BackoffOptions } from './backoff.js';
export type { SendBufferOptions, SendResult } from './send-buffer.js';
export type { JoinOptions, RoomGap, RoomItem, RoomPosition } from './room.js';
export type { Connection, ConnectionHandlers, Connector } from './connector.js';
export type { Timers } from './clock.js';
export type { DiscardCallback } from './discard-callbacks.js';
export type { HubEvent } from './protocol.js';
export { webSocketConnector } from './ws-connector.js';
export { httpConnector } from './http-connector.js';
export type { FetchLike, HttpConnectorOptions } from './http-connector.js';
export { autoConnector } from './carrier-choice.js';
export type { AutoConnectorOptions, Carrier, CarrierOption, FallbackOptions } from './carrier-choice.js';
export type { WebSocketConnectorOptions, WebSocketConstructor, WebSocketLike } from './ws-connector.js';
export { PROTOCOL_VERSION } from './protocol.js';
export {
  AuthError,
  ClientClosedError,
  ClientError,
  ConnectTimeoutError,
  ConnectionEndedError,
  ConnectionFailedError,
  DisconnectedError,
  ForbiddenError,
  InvalidArgumentError,
  InvalidOptionError,
  OperationError,
  ProtocolError,
  RateLimitedError,
  RequestTimeoutError,
  RoomError,
  SendDiscardedError,
  ServerError,
  UnknownOpError,
  UnsupportedVersionError,
} from './errors.js';
export type { ClientErrorCode, DiscardReason, ErrorCode, WireErrorDetail } from './errors.js';
