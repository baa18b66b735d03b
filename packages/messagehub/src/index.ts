export { MessageHub } from './hub.js';
export type { AddOptions, HubStats, HubStatus, ListenerHandle, PresenceEntry } from './hub.js';
export type { MessageHubOptions } from './options.js';
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
  isHubError,
} from './errors.js';
export type { HubErrorCode } from './errors.js';
