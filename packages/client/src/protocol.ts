/**
 * The protocol v1 frames the client speaks (docs/protocol.md), from `@msghub/protocol`, the package
 * the server shares.
 */
import type {
  ClientFrame,
  DirectSendFrame,
  EventFrame,
  GapFrame,
  HelloFrame,
  PublishFrame,
  Ref,
  ServerFrame,
  WelcomeFrame,
  WireErrorCode,
} from '@msghub/protocol';

export type { ClientFrame, DirectSendFrame, GapFrame, HelloFrame, PublishFrame, Ref, ServerFrame, WelcomeFrame, WireErrorCode };

/** One room event exactly as the room emitted it (`id`, `chatroomId`, `type`, ...). */
export type HubEvent<T = unknown> = EventFrame<T>['event'];

/** The protocol version this client speaks in `hello.v`. */
export const PROTOCOL_VERSION = 1;

/** Whether `value` parsed from the wire looks like a server frame (an object with a string `type`). */
export function isServerFrame(value: unknown): value is ServerFrame {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string'
  );
}
