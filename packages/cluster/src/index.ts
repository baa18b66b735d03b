export { RedisStore } from './redis-store.js';
export type { RedisStoreOptions } from './options.js';
export { ClusterError, MalformedEntryError, RedisUnavailableError, SequenceResetError, isClusterError } from './errors.js';
export type { ClusterErrorCode } from './errors.js';
