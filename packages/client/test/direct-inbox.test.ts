import { expect } from 'chai';
import { MemoryOfflineQueue, MAX_ACK_IDS as SERVER_MAX_ACK_IDS, MAX_DIRECT_TTL_MS as SERVER_MAX_DIRECT_TTL_MS } from '@msghub/transport';
import { MsghubClient } from '../src/client.js';
import { DirectInbox, MAX_ACK_IDS, MAX_DIRECT_TTL_MS, RECENT_DIRECT_IDS, type AckLink, type InboxMessage } from '../src/direct-inbox.js';
import { InvalidArgumentError } from '../src/errors.js';
import type { DirectMessage } from '../src/index.js';
import type { ClientFrame } from '../src/protocol.js';
import { createClient } from '../src/node.js';
import { FakePeer, flush } from './fake-peer.js';
import { FakeTimers } from './fake-timers.js';
import { fast, startServer, until, waitFor, type TestServer } from './harness.js';

/** A connection that records what is written to it. */
class FakeLink implements AckLink {
  ready = true;
  readonly sent: ClientFrame[] = [];
  send(frame: ClientFrame): void {
    this.sent.push(frame);
  }
}

const frame = (id: string | number, data: unknown = id) => ({ id, from: 'ada', data, ts: 5 });

/** An inbox whose batched acknowledgements run when the test calls `turn()`. */
function inbox(capacity?: number) {
  const delivered: InboxMessage[] = [];
  const tasks: (() => void)[] = [];
  const box = new DirectInbox((message) => delivered.push(message), (task) => tasks.push(task), capacity);
  return {
    box,
    delivered,
    ids: () => delivered.map((message) => message.id),
    turn: () => {
      for (const task of tasks.splice(0)) task();
    },
  };
}

describe('DirectInbox', () => {
  describe('#receive', () => {
    it('delivers each id once, acknowledging every copy, in one ack frame per turn', () => {
      const { box, delivered, ids, turn } = inbox();
      const link = new FakeLink();
      box.receive(link, frame('a', { text: 'hi' }));
      box.receive(link, frame('b'));
      box.receive(link, frame('a', { text: 'hi' }));
      expect(delivered).to.deep.equal([
        { id: 'a', from: 'ada', data: { text: 'hi' }, ts: 5 },
        { id: 'b', from: 'ada', data: 'b', ts: 5 },
      ]);
      expect(link.sent).to.deep.equal([]);
      turn();
      expect(link.sent).to.deep.equal([{ type: 'ack', direct: ['a', 'b'] }]);
      box.receive(link, frame('b'));
      turn();
      expect(link.sent.at(-1)).to.deep.equal({ type: 'ack', direct: ['b'] });
      expect(ids()).to.deep.equal(['a', 'b']);
    });

    it('acknowledges on the connection a message came on, and not on one that has ended', () => {
      const { box, ids, turn } = inbox();
      const gone = new FakeLink();
      const next = new FakeLink();
      box.receive(gone, frame('a'));
      gone.ready = false;
      box.receive(next, frame('a'));
      box.receive(next, frame('b'));
      turn();
      expect(gone.sent).to.deep.equal([]);
      expect(next.sent).to.deep.equal([{ type: 'ack', direct: ['a', 'b'] }]);
      expect(ids()).to.deep.equal(['a', 'b']);
    });

    it(`remembers the last ${RECENT_DIRECT_IDS} ids by default: a repeat of an older one is delivered again`, () => {
      const { box, ids } = inbox();
      const link = new FakeLink();
      for (let i = 0; i <= RECENT_DIRECT_IDS; i++) box.receive(link, frame(`m${i}`));
      box.receive(link, frame(`m1`));
      box.receive(link, frame(`m${RECENT_DIRECT_IDS}`));
      expect(ids()).to.have.length(RECENT_DIRECT_IDS + 1);
      box.receive(link, frame('m0'));
      expect(ids()).to.have.length(RECENT_DIRECT_IDS + 2);
      expect(ids().at(-1)).to.equal('m0');
    });

    it('delivers a numeric id (a server from before acknowledgements) as a string, every time, and never acknowledges it', () => {
      const { box, delivered, turn } = inbox();
      const link = new FakeLink();
      box.receive(link, frame(1));
      box.receive(link, frame(1));
      turn();
      expect(delivered.map((message) => message.id)).to.deep.equal(['1', '1']);
      expect(link.sent).to.deep.equal([]);
    });

    it(`splits acknowledgements into frames of at most ${MAX_ACK_IDS} ids`, () => {
      const { box, turn } = inbox(5000);
      const link = new FakeLink();
      for (let i = 0; i < 2 * MAX_ACK_IDS + 1; i++) box.receive(link, frame(`m${i}`));
      turn();
      expect(link.sent.map((sent) => (sent as { direct: string[] }).direct.length)).to.deep.equal([MAX_ACK_IDS, MAX_ACK_IDS, 1]);
    });
  });

  it('uses the protocol limits of the server', () => {
    expect(MAX_ACK_IDS).to.equal(SERVER_MAX_ACK_IDS);
    expect(MAX_DIRECT_TTL_MS).to.equal(SERVER_MAX_DIRECT_TTL_MS);
  });
});

describe('MsghubClient direct messages', () => {
  const clients: MsghubClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });

  function start() {
    const peer = new FakePeer();
    const timers = new FakeTimers();
    const client = new MsghubClient({ connector: peer.connector, timers });
    clients.push(client);
    const received: DirectMessage[] = [];
    client.direct$.subscribe((message) => received.push(message));
    return { peer, timers, client, received };
  }

  const hi = { type: 'direct', id: 'q2Xv0cJm3eXo1vT0a9LbZw', from: 'grace', data: 'hi', ts: 7 } as const;

  it('acknowledges the directs of one turn in one ack on their connection, and emits each on direct$', async () => {
    const { peer, received } = start();
    peer.last.welcome();
    await flush();
    peer.last.push(hi, { ...hi, id: 'second', data: 'there' });
    expect(received.map((message) => message.data)).to.deep.equal(['hi', 'there']);
    await flush();
    expect(peer.last.sent('ack')).to.deep.equal([{ type: 'ack', direct: [hi.id, 'second'] }]);
  });

  it('emits a direct once when the server sends it again after a reconnect, and acknowledges it there', async () => {
    const { peer, timers, client, received } = start();
    peer.last.welcome();
    await flush();
    const first = peer.last;
    // The connection drops in the same turn: its acknowledgement never leaves.
    first.push(hi);
    first.end();
    await flush();
    expect(first.sent('ack')).to.deep.equal([]);
    timers.advance(10_000);
    const second = peer.last;
    expect(second).to.not.equal(first);
    second.welcome();
    await flush();
    expect(client.state).to.equal('connected');
    second.push(hi);
    await flush();
    expect(second.sent('ack')).to.deep.equal([{ type: 'ack', direct: [hi.id] }]);
    expect(received).to.deep.equal([{ id: hi.id, from: 'grace', data: 'hi', ts: 7 }]);
  });

  it('sends ttlMs with a user-to-user direct, and refuses a bad one or one with room with InvalidArgumentError', async () => {
    const { peer, client } = start();
    peer.last.welcome();
    await flush();
    expect(client.direct('bob', 'soon', { ttlMs: 60_000 })).to.equal('sent');
    expect(peer.last.sent('direct')).to.deep.equal([{ type: 'direct', to: 'bob', data: 'soon', ttlMs: 60_000 }]);
    for (const options of [{ ttlMs: 0 }, { ttlMs: 1.5 }, { ttlMs: MAX_DIRECT_TTL_MS + 1 }, { ttlMs: 10, room: 'lobby' }]) {
      expect(() => client.direct('bob', 'x', options)).to.throw(InvalidArgumentError);
    }
  });
});

describe('MsghubClient direct messages against the real server', () => {
  let test: TestServer | undefined;
  const clients: MsghubClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await test?.close();
    test = undefined;
  });

  for (const carrier of ['ws', 'tcp'] as const) {
    it(`shows each queued direct exactly once over ${carrier} when the connection drops right after welcome, before the ack`, async () => {
      const queue = new MemoryOfflineQueue();
      let firstConnection: string | undefined;
      let sentToGrace = 0;
      test = await startServer({
        offlineQueue: queue,
        onConnect: (connection) => {
          if (connection.userId === 'grace') firstConnection ??= connection.id;
        },
        beforeSend: (frame, connection) => {
          if (frame.type === 'direct' && connection.userId === 'grace') sentToGrace++;
          return frame;
        },
        // The first connection's acknowledgements are lost with it: the connection is cut as they arrive.
        beforeReceive: (frame, connection) => {
          if (frame.type !== 'ack' || connection.id !== firstConnection) return frame;
          setImmediate(() => test?.dropAll());
          return null;
        },
      });
      const url = carrier === 'ws' ? test.wsUrl : test.tcpUrl;
            const ada = createClient({ url, user: 'ada', reconnect: fast });
      clients.push(ada);
      await waitFor(ada.state$, (state) => state === 'connected');
      for (const text of ['one', 'two', 'three']) ada.direct('grace', text);
      await until(() => queue.pending('grace').length === 3);

      const grace = createClient({ url, user: 'grace', reconnect: fast });
      clients.push(grace);
      const received: unknown[] = [];
      grace.direct$.subscribe((message) => received.push(message.data));
      // Sent on the first connection, unacknowledged, sent again on the second, acknowledged there.
      await until(() => sentToGrace === 6 && queue.pending('grace').length === 0);
      expect(received).to.deep.equal(['one', 'two', 'three']);

      test.dropAll();
      await waitFor(grace.state$, (state) => state === 'reconnecting');
      await waitFor(grace.state$, (state) => state === 'connected');
      ada.direct('grace', 'four');
      await until(() => received.length === 4);
      expect(received).to.deep.equal(['one', 'two', 'three', 'four']);
      expect(sentToGrace).to.equal(7);
    });
  }
});
