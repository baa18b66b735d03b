export { MessageHub } from './hub.js';
export type { AddOptions, HubStats, HubStatus, JoinPosition, ListenerHandle, PresenceEntry, PublishOptions } from './hub.js';
export { MemoryStore } from './memory-store.js';
export type { MemoryStoreOptions } from './memory-store.js';
export { randomId } from './store.js';
export type { RoomFollower, RoomMember, RoomOpenOptions, RoomState, RoomStore } from './store.js';
export type { MessageHubOptions, PresenceEvents } from './options.js';
export type {
  CloseEvent,
  GapNotice,
  HubEvent,
  HubEventType,
  MessageEvent,
  PresenceEvent,
  SessionEvent,
} from './event.js';
export { isVisibleTo } from './event.js';
export type { HubListener, HubListenerFunction } from './listener.js';
export {
  AlreadyExistsError,
  BufferOverflowError,
  ClosedError,
  HubError,
  InvalidArgumentError,
  InvalidOptionError,
  ListenerError,
  NotFoundError,
  StoreError,
  UnencodableError,
  isHubError,
} from './errors.js';
export type { HubErrorCode } from './errors.js';
