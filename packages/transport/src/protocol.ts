/**
 * Protocol v1 frame types, wire error codes and limits (docs/protocol.md), from `@msghub/protocol`;
 * also exported as `@msghub/transport/protocol`.
 */
export * from '@msghub/protocol';
