import { expect } from 'chai';
import { MemoryStore, type HubEvent } from '@msghub/messagehub';
import { cleanup, startServer, type Running, type TestClient } from './helpers.js';

let refs = 100;

/** Sends a `history` request and resolves with its `response` data or its `error` frame. */
async function history(client: TestClient, data: unknown): Promise<Record<string, unknown>> {
  const ref = ++refs;
  client.send({ type: 'request', ref, op: 'history', data });
  const answer = await client.waitFor((f) => f['ref'] === ref);
  return answer.type === 'response' ? (answer['data'] as Record<string, unknown>) : answer;
}

function ids(page: Record<string, unknown>): number[] {
  return (page['events'] as HubEvent<unknown>[]).map((event) => event.id);
}

async function joined(running: Running, user: string, room = 'r'): Promise<{ client: TestClient; lastEventId: number; epoch: string }> {
  const client = await running.user(user);
  client.send({ type: 'join', ref: 'j', room });
  const ok = await client.next('ok');
  return { client, lastEventId: ok['lastEventId'] as number, epoch: ok['epoch'] as string };
}

describe('the history operation', () => {
  afterEach(cleanup);

  it('answers the latest page before the join, oldest first, with the epoch, and pages back until there is no more', async () => {
    const running = await startServer();
    const hub = running.server.rooms.create('r');
    for (let i = 1; i <= 12; i++) await hub.message('bot', `m${i}`);
    const { client, lastEventId, epoch } = await joined(running, 'ada');
    expect(lastEventId).to.equal(12);

    const latest = await history(client, { room: 'r', before: lastEventId + 1, limit: 5 });
    expect(ids(latest)).to.deep.equal([8, 9, 10, 11, 12]);
    expect(latest).to.include({ more: true, epoch });
    const earlier = await history(client, { room: 'r', before: 8, limit: 5 });
    expect(ids(earlier)).to.deep.equal([3, 4, 5, 6, 7]);
    expect(earlier['more']).to.equal(true);
    const first = await history(client, { room: 'r', before: 3, limit: 5 });
    expect(ids(first)).to.deep.equal([1, 2]);
    expect(first['more']).to.equal(false);
    expect(await history(client, { room: 'r', before: 1 })).to.deep.equal({ events: [], more: false, epoch });
  });

  it('reads up to the room\'s last committed event without before, 50 by default', async () => {
    const running = await startServer();
    const hub = running.server.rooms.create('r');
    for (let i = 1; i <= 60; i++) await hub.message('bot', i);
    const { client } = await joined(running, 'ada');
    const page = await history(client, { room: 'r' });
    // 61 is ada's own join, committed before the request was handled.
    expect(ids(page)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i + 12));
    expect(page['more']).to.equal(true);
  });

  it('leaves out whispers between other users, and keeps those the asking user is an end of', async () => {
    const running = await startServer();
    const hub = running.server.rooms.create('r');
    await hub.message('bob', 'for all');
    await hub.whisper('bob', 'carol', 'not for ada');
    await hub.whisper('bob', 'ada', 'for ada');
    const { client } = await joined(running, 'ada');
    const page = await history(client, { room: 'r', before: 4 });
    expect((page['events'] as HubEvent<string>[]).map((event) => (event.type === 'message' ? event.message : event.type))).to.deep.equal([
      'for all',
      'for ada',
    ]);
  });

  it('reads what the room\'s store keeps beyond the in-memory history, and says when the store reaches no further', async () => {
    const store = new MemoryStore({ retain: 30 });
    const running = await startServer({ store, hubOptions: { historySize: 4 } });
    const hub = running.server.rooms.create('r');
    for (let i = 1; i <= 40; i++) await hub.message('bot', i);
    const { client } = await joined(running, 'ada');
    // The store keeps the latest 30 of the 41 events (40 messages and ada's join): ids 12 to 41.
    const page = await history(client, { room: 'r', before: 41, limit: 20 });
    expect(ids(page)).to.deep.equal(Array.from({ length: 20 }, (_, i) => i + 21));
    expect(page['more']).to.equal(true);
    const oldest = await history(client, { room: 'r', before: 21, limit: 20 });
    expect(ids(oldest)).to.deep.equal(Array.from({ length: 9 }, (_, i) => i + 12));
    expect(oldest['more']).to.equal(false);
  });

  it('answers NOT_JOINED to a connection that has not joined the room, and INVALID_ARGUMENT to bad input', async () => {
    const running = await startServer();
    const { client } = await joined(running, 'ada');
    const eve = await running.user('eve');
    expect(await history(eve, { room: 'r' })).to.include({ type: 'error', code: 'NOT_JOINED' });
    const bad: unknown[] = [
      undefined,
      'r',
      [],
      { room: '' },
      { room: 'x'.repeat(257) },
      { room: 'r', before: 0 },
      { room: 'r', before: 1.5 },
      { room: 'r', before: '5' },
      { room: 'r', limit: 0 },
      { room: 'r', limit: 201 },
    ];
    for (const data of bad) {
      expect(await history(client, data), JSON.stringify(data)).to.include({ type: 'error', code: 'INVALID_ARGUMENT' });
    }
    expect(ids(await history(client, { room: 'r', limit: 200 }))).to.deep.equal([1]);
  });
});
