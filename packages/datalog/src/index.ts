export { DataLog } from './datalog.js';
export type { LogAttachment, LoggableHub } from './datalog.js';
export type { FlushNotice } from './file-sink.js';
export { FileStore } from './file-store.js';
export type { DataLogOptions, FileStoreOptions, FsyncPolicy } from './options.js';
export type { EpochLine } from './line-parser.js';
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
  LogIndexError,
  LogNotFoundError,
  LogOpenError,
  LogOptionError,
  LogReadError,
  LogRoomNotOpenError,
  LogSequenceError,
  LogWriteError,
  MalformedLineError,
  TornLineError,
  isDatalogError,
} from './errors.js';
export type { DatalogErrorCode } from './errors.js';
