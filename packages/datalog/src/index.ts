export { DataLog } from './datalog.js';
export type { LogAttachment, LoggableHub } from './datalog.js';
export type { FlushNotice } from './file-sink.js';
export type { DataLogOptions, FsyncPolicy } from './options.js';
export { readLog, observeLog } from './reader.js';
export type { ReadLogOptions } from './reader.js';
export { followLog } from './follow.js';
export type { FollowLogOptions } from './follow.js';
export { replay } from './replay.js';
export type { ReplayOptions, RoomSeed } from './replay.js';
export { formatEvent } from './pretty.js';
export {
  DatalogError,
  LogClosedError,
  LogEncodeError,
  LogFileRemovedError,
  LogNotFoundError,
  LogOpenError,
  LogOptionError,
  LogReadError,
  LogWriteError,
  MalformedLineError,
  TornLineError,
  isDatalogError,
} from './errors.js';
export type { DatalogErrorCode } from './errors.js';
