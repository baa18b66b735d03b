import { expect } from 'chai';
import fc from 'fast-check';
import { MsghubClient } from '../src/client.js';
import type { RoomItem } from '../src/room.js';
import { FakePeer, eventFrame, flush } from './fake-peer.js';
import { FakeTimers } from './fake-timers.js';

// Property: whatever the connection drops, over-replays and trims, and however often the room's
// sequence starts again (a new epoch), a room stream carries strictly increasing ids within each
// epoch, each once; every id up to the last is either delivered or inside a gap notice; and each
// new epoch begins with exactly one `reset` gap, after which the new (lower) ids are delivered.

interface Segment {
  /** The room's sequence started again before this connection (a new epoch). */
  restart: boolean;
  /** Events the new sequence already holds when the client rejoins. */
  held: number;
  /** How many of the oldest of those the new sequence no longer keeps. */
  lost: number;
  /** How many ids before `since + 1` the server (wrongly) replays. */
  overlap: number;
  /** How many ids the server cannot replay (sent as a gap), 0 for none. */
  trimmed: number;
  /** How many events this connection delivers before it drops. */
  length: number;
}

const segment = fc.record({
  restart: fc.boolean(),
  held: fc.integer({ min: 0, max: 6 }),
  lost: fc.integer({ min: 0, max: 3 }),
  overlap: fc.integer({ min: 0, max: 3 }),
  trimmed: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4 })),
  length: fc.integer({ min: 0, max: 8 }),
});

interface Run {
  items: RoomItem[];
  /** The epoch each join of the client named (undefined when it had none). */
  joinEpochs: (string | undefined)[];
  /** How many times the sequence started again while the client held a position in it. */
  restartsSeen: number;
  /** Where the first join entered the room: its epoch and the last id before it. */
  start: { epoch: string; lastEventId: number };
}

/** A server model that follows protocol v1: `ok` with the epoch, a `reset` gap when the join's epoch is not the room's. */
async function run(segments: Segment[]): Promise<Run> {
  const peer = new FakePeer();
  const timers = new FakeTimers();
  const client = new MsghubClient({ connector: peer.connector, timers, reconnect: { jitter: 0 } });
  const items: RoomItem[] = [];
  client.join('lobby').subscribe((item) => items.push(item));
  const joinEpochs: (string | undefined)[] = [];
  let restartsSeen = 0;
  let start: Run['start'] | undefined;
  let epoch = 'e0';
  let next = 1;
  let oldest = 1;
  for (const [index, { restart, held, lost, overlap, trimmed, length }] of segments.entries()) {
    if (restart) {
      epoch = `e${index + 1}`;
      next = held + 1;
      oldest = Math.min(lost, held) + 1;
    }
    const connection = peer.last;
    connection.welcome();
    await flush();
    const join = connection.sent('join')[0]!;
    joinEpochs.push(join.epoch);
    start ??= { epoch, lastEventId: next - 1 };
    connection.push({ type: 'ok', ref: join.ref!, room: 'lobby', lastEventId: next - 1, epoch });
    await flush();
    const since = join.since ?? 0;
    let from: number;
    if (join.epoch !== undefined && join.epoch !== epoch) {
      restartsSeen++;
      from = oldest;
      connection.push({ type: 'gap', room: 'lobby', since, resumeAt: oldest, reason: 'reset', epoch });
    } else {
      from = Math.max(1, since + 1 - overlap);
      if (trimmed > 0) {
        from = since + 1 + trimmed;
        connection.push({ type: 'gap', room: 'lobby', since, resumeAt: from, reason: 'trimmed', epoch });
      }
    }
    const last = Math.max(next - 1, from - 1) + length;
    for (let id = from; id <= last; id++) connection.push(eventFrame('lobby', id, `${epoch}:${id}`));
    next = last + 1;
    connection.end();
    timers.advance(500);
  }
  await client.close();
  return { items, joinEpochs, restartsSeen, start: start! };
}

describe('MsghubClient resume (property)', () => {
  it('delivers each id once per epoch, in order, and accounts for every missing id with a gap notice', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 8 }), async (segments) => {
        const { items, joinEpochs, restartsSeen, start } = await run(segments);
        let position = start.lastEventId;
        let epoch = start.epoch;
        let covered = new Set<number>();
        let resets = 0;
        for (const item of items) {
          if (item.type === 'gap') {
            expect(item.since).to.equal(position);
            if (item.reason === 'reset' && item.epoch !== epoch) {
              // A new sequence: ids start again at resumeAt, whatever the old position was.
              resets++;
              covered = new Set();
              epoch = item.epoch!;
            } else {
              for (let id = item.since + 1; id < item.resumeAt; id++) covered.add(id);
            }
            position = item.resumeAt - 1;
          } else {
            expect(item.id).to.be.above(position);
            expect(item).to.include({ type: 'message', message: `${epoch}:${item.id}` });
            for (let id = position + 1; id < item.id; id++) expect(covered.has(id), `id ${id} lost silently`).to.equal(true);
            covered.add(item.id);
            position = item.id;
          }
        }
        expect(resets).to.equal(restartsSeen);
        // Every rejoin names an epoch once a server named one.
        expect(joinEpochs.slice(1).every((e) => e !== undefined)).to.equal(true);
      }),
      { numRuns: 200 },
    );
  });
});
