import fc from 'fast-check';

/** One step of a random room workload for property tests: users 0-3, sessions 0-2 of each. */
export type Command =
  | { kind: 'add'; user: number; session: number }
  | { kind: 'remove'; user: number; session: number }
  | { kind: 'message'; user: number }
  | { kind: 'whisper'; user: number; to: number }
  | { kind: 'yield' };

const user = fc.integer({ min: 0, max: 3 });
const session = fc.integer({ min: 0, max: 2 });

export const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), user, session }),
  fc.record({ kind: fc.constant('remove' as const), user, session }),
  fc.record({ kind: fc.constant('message' as const), user }),
  fc.record({ kind: fc.constant('whisper' as const), user, to: user }),
  fc.constant({ kind: 'yield' as const }),
);
