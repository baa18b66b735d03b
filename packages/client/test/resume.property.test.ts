import { expect } from 'chai';
import fc from 'fast-check';
import { MsghubClient } from '../src/client.js';
import type { RoomItem } from '../src/room.js';
import { FakePeer, eventFrame, flush } from './fake-peer.js';
import { FakeTimers } from './fake-timers.js';

// Property: whatever the connection drops, over-replays and trims, a room stream carries strictly
// increasing ids, each once, and every id up to the last is either delivered or inside a gap notice.

interface Segment {
  /** How many ids before `since + 1` the server (wrongly) replays. */
  overlap: number;
  /** How many ids the server cannot replay (sent as a gap), 0 for none. */
  trimmed: number;
  /** How many events this connection delivers before it drops. */
  length: number;
}

const segment = fc.record({
  overlap: fc.integer({ min: 0, max: 3 }),
  trimmed: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4 })),
  length: fc.integer({ min: 0, max: 8 }),
});

async function run(segments: Segment[]): Promise<RoomItem[]> {
  const peer = new FakePeer();
  const timers = new FakeTimers();
  const client = new MsghubClient({ connector: peer.connector, timers, reconnect: { jitter: 0 } });
  const items: RoomItem[] = [];
  client.join('lobby').subscribe((item) => items.push(item));
  let next = 1;
  for (const { overlap, trimmed, length } of segments) {
    const connection = peer.last;
    connection.welcome();
    await flush();
    const join = connection.sent('join')[0]!;
    connection.push({ type: 'ok', ref: join.ref!, room: 'lobby', lastEventId: next - 1 });
    await flush();
    const since = join.since ?? 0;
    let from = Math.max(1, since + 1 - overlap);
    if (trimmed > 0) {
      from = since + 1 + trimmed;
      connection.push({ type: 'gap', room: 'lobby', since, resumeAt: from, reason: 'trimmed' });
    }
    const last = Math.max(next - 1, from - 1) + length;
    for (let id = from; id <= last; id++) connection.push(eventFrame('lobby', id));
    next = last + 1;
    connection.end();
    timers.advance(500);
  }
  await client.close();
  return items;
}

describe('MsghubClient resume (property)', () => {
  it('delivers each id once, in order, and accounts for every missing id with a gap notice', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 8 }), async (segments) => {
        const items = await run(segments);
        let position = 0;
        const covered = new Set<number>();
        for (const item of items) {
          if (item.type === 'gap') {
            expect(item.since).to.equal(position);
            for (let id = item.since + 1; id < item.resumeAt; id++) covered.add(id);
            position = item.resumeAt - 1;
          } else {
            expect(item.id).to.be.above(position);
            for (let id = position + 1; id < item.id; id++) expect(covered.has(id), `id ${id} lost silently`).to.equal(true);
            covered.add(item.id);
            position = item.id;
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
