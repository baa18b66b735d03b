export * from './protocol.js';
export { HubServer } from './server.js';
export type { ConnectionSummary, ListenAddresses, ListenOptions, SendOptions, ServerStatus, WebSocketOption } from './server.js';
export type {
  AuthRequest,
  AuthResult,
  Authenticator,
  ConnectionInfo,
  HubServerOptions,
  MessageContext,
  MessageEncoder,
  NotifyContext,
  NotifyHandler,
  RequestContext,
  RequestHandler,
  RoomAuthorizer,
  RoomRequest,
  ServerRequestOptions,
  SignalBus,
} from './options.js';
export type { MetricsSnapshot } from './metrics.js';
export type { MetricsOption, MetricsOptions } from './prometheus.js';
export type { AdminOption, AdminOptions } from './admin.js';
export { RoomRegistry } from './rooms.js';
export { roomAllowed } from './room-access.js';
export type { RoomClaims } from './room-access.js';
export type { CreateRoomOptions, RoomRegistryOptions, RoomSeed } from './rooms.js';
export { TokenStore } from './tokens.js';
export type { IssueOptions, TokenGrant, TokenStoreOptions } from './tokens.js';
export { MemoryOfflineQueue } from './offline-queue.js';
export type { MemoryOfflineQueueOptions, OfflineQueue } from './offline-queue.js';
export { FileOfflineQueue } from './file-offline-queue.js';
export type { FileOfflineQueueOptions } from './file-offline-queue.js';
export type { SlowConsumerPolicy } from './outbox.js';
export { OriginNotAllowedError, isOriginAllowed, resolveAllowedOrigins } from './origins.js';
export type { OriginPolicy } from './origins.js';
export type { PerMessageDeflateOption, PerMessageDeflateOptions } from './per-message-deflate.js';
export type { Handshake, SocketHandler, TransportAdapter, TransportSocket } from './adapter.js';
export type { HttpCarrierCode } from './http-adapter.js';
export { WsAdapter } from './ws-adapter.js';
export type { WsAdapterOptions } from './ws-adapter.js';
export { TcpAdapter } from './tcp-adapter.js';
export type { TcpAdapterOptions } from './tcp-adapter.js';
export { TcpFrameDecoder, encodeTcpFrames } from './tcp-framing.js';
export { decodeFrame, encodeFrame } from './frame-codec.js';
export { contentTypeOf } from './assets.js';
export type { AssetSource } from './assets.js';
export type { DevTokensOption } from './dev-tokens.js';
export {
  AlreadyJoinedError,
  AuthFailedError,
  AuthTimeoutError,
  BadFrameError,
  ClientAnswerError,
  DisconnectedWireError,
  ForbiddenError,
  FrameTooDeepError,
  FrameTooLargeError,
  InternalError,
  InvalidArgumentWireError,
  InvalidFieldError,
  InvalidUserIdError,
  NotAuthenticatedError,
  NotFoundWireError,
  NotJoinedError,
  OfflineError,
  OfflineQueueFullError,
  RateLimitedError,
  RequestTimeoutWireError,
  RoomExistsError,
  RoomNotFoundError,
  StreamRequiredError,
  TooManyStreamsError,
  UnknownOpError,
  UnknownTypeError,
  UnsupportedVersionError,
  UserInRoomError,
  WireError,
  toWireError,
} from './errors.js';
