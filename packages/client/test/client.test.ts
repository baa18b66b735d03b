import { expect } from 'chai';
import type { ConnectionState, JoinOptions, RoomItem } from '../src/index.js';
import { MsghubClient } from '../src/client.js';
import {
  AuthError,
  ClientClosedError,
  ConnectTimeoutError,
  ConnectionEndedError,
  ConnectionFailedError,
  DisconnectedError,
  ForbiddenError,
  InvalidArgumentError,
  OperationError,
  ProtocolError,
  RequestTimeoutError,
  RoomError,
  SendDiscardedError,
  UnknownOpError,
  type ClientError,
} from '../src/errors.js';
import type { Connector } from '../src/connector.js';
import type { ClientOptions, Discarded } from '../src/options.js';
import type { ServerFrame } from '../src/protocol.js';
import { FakePeer, eventFrame, flush, type PeerConnection } from './fake-peer.js';
import { FakeTimers } from './fake-timers.js';

// Frame handling, timing and state against an in-memory peer in virtual time. The same behaviours
// over real sockets against the real server are in real-server.test.ts.

interface Harness {
  peer: FakePeer;
  timers: FakeTimers;
  client: MsghubClient;
  states: ConnectionState[];
  errors: ClientError[];
  discarded: Discarded[];
}

function start(options: Partial<ClientOptions> = {}): Harness {
  const peer = new FakePeer();
  const timers = new FakeTimers();
  const client = new MsghubClient({ connector: peer.connector, timers, ...options });
  const states: ConnectionState[] = [];
  const errors: ClientError[] = [];
  const discarded: Discarded[] = [];
  client.state$.subscribe((state) => states.push(state));
  client.errors$.subscribe((error) => errors.push(error));
  client.discarded$.subscribe((item) => discarded.push(item));
  return { peer, timers, client, states, errors, discarded };
}

/** Answers every unanswered join on `connection` with `ok`. */
function acceptJoins(connection: PeerConnection, lastEventId = 0): void {
  for (const join of connection.sent('join')) {
    if (join.ref !== undefined && !answered.has(join)) {
      answered.add(join);
      connection.push({ type: 'ok', ref: join.ref, room: join.room, lastEventId });
    }
  }
}
const answered = new WeakSet<object>();

async function connect(h: Harness, heartbeatMs = 0): Promise<PeerConnection> {
  h.peer.last.welcome(heartbeatMs);
  await flush();
  acceptJoins(h.peer.last);
  await flush();
  return h.peer.last;
}

function collect(client: MsghubClient, room: string, options: JoinOptions = {}) {
  const items: RoomItem[] = [];
  let error: unknown;
  let complete = false;
  const subscription = client.join(room, options).subscribe({
    next: (item) => items.push(item),
    error: (e: unknown) => (error = e),
    complete: () => (complete = true),
  });
  return {
    items,
    subscription,
    ids: () => items.map((item) => (item.type === 'gap' ? `gap${item.resumeAt}` : item.id)),
    get error() {
      return error;
    },
    get complete() {
      return complete;
    },
  };
}

describe('MsghubClient (in-memory peer, virtual time)', () => {
  describe('handshake', () => {
    it('sends hello v1 with a token fetched for every attempt, then reports connected', async () => {
      let n = 0;
      const h = start({ token: () => `t${++n}`, user: 'ada', meta: { app: 'x' } });
      expect(h.client.state).to.equal('connecting');
      h.peer.last.open();
      await flush();
      expect(h.peer.last.received).to.deep.equal([{ type: 'hello', v: 1, token: 't1', user: 'ada', meta: { app: 'x' } }]);
      h.peer.last.push({ type: 'welcome', v: 1, userId: 'ada', connectionId: 'Jm3eXo1vT0q6a9LbZx4W2g', heartbeatMs: 0, maxFrameBytes: 1024 });
      await flush();
      expect(h.client.state).to.equal('connected');
      expect(h.client.userId).to.equal('ada');
      h.peer.last.end();
      h.timers.advance(500);
      h.peer.last.open();
      await flush();
      expect(h.peer.last.sent('hello')[0]?.token).to.equal('t2');
      expect(h.states).to.deep.equal(['connecting', 'connected', 'reconnecting']);
    });

    it('answers a server ping with a pong carrying the same ts', async () => {
      const h = start();
      const connection = await connect(h);
      connection.push({ type: 'ping', ts: 42 });
      expect(connection.sent('pong')).to.deep.equal([{ type: 'pong', ts: 42 }]);
    });

    it('gives up an attempt with ConnectTimeoutError when no welcome comes in connectTimeoutMs', async () => {
      const h = start({ connectTimeoutMs: 300 });
      h.peer.last.open();
      h.timers.advance(299);
      expect(h.peer.last.ended).to.equal(false);
      h.timers.advance(1);
      expect(h.peer.last.closedByClient).to.equal(true);
      expect(h.errors[0]).to.be.instanceOf(ConnectTimeoutError);
      expect(h.client.state).to.equal('reconnecting');
    });

    it('stops for good on AUTH_FAILED: state disconnected, rooms fail with AuthError, no new attempt', async () => {
      const h = start();
      const room = collect(h.client, 'lobby');
      h.peer.last.open();
      h.peer.last.push({ type: 'error', code: 'AUTH_FAILED', message: 'no' });
      h.peer.last.end();
      h.timers.advance(60_000);
      expect(h.peer.connections).to.have.length(1);
      expect(h.client.state).to.equal('disconnected');
      expect(room.error).to.be.instanceOf(AuthError).with.property('code', 'AUTH_FAILED');
    });

    it('stops for good when the server refuses the hello itself, since a retry would send the same hello', async () => {
      const h = start({ meta: { deep: [] } });
      const room = collect(h.client, 'lobby');
      h.peer.last.open();
      await flush();
      h.peer.last.push({ type: 'error', code: 'FRAME_TOO_DEEP', message: 'too deep', frame: 'hello' });
      h.peer.last.end();
      h.timers.advance(60_000);
      expect(h.peer.connections).to.have.length(1);
      expect(h.client.state).to.equal('disconnected');
      expect(room.error).to.be.instanceOf(ProtocolError).with.property('code', 'FRAME_TOO_DEEP');
    });

    it('tries again after a protocol error that does not answer the hello', async () => {
      const h = start();
      h.peer.last.open();
      await flush();
      h.peer.last.push({ type: 'error', code: 'BAD_FRAME', message: 'odd' });
      h.peer.last.end();
      h.timers.advance(60_000);
      expect(h.peer.connections.length).to.be.greaterThan(1);
      expect(h.client.state).to.not.equal('disconnected');
    });
  });

  describe('reconnect', () => {
    it('waits the backoff schedule between attempts and gives up after maxAttempts', async () => {
      const h = start({ reconnect: { initialDelayMs: 100, maxDelayMs: 300, jitter: 0, maxAttempts: 3 } });
      const room = collect(h.client, 'lobby');
      const attemptsAt: number[] = [];
      for (let i = 0; i < 4; i++) {
        attemptsAt.push(h.timers.now());
        h.peer.last.end(new Error('refused'));
        for (let t = 0; t < 1000 && h.peer.connections.length === i + 1 && h.client.state !== 'disconnected'; t += 10) {
          h.timers.advance(10);
        }
      }
      expect(attemptsAt).to.deep.equal([0, 100, 300, 600]);
      expect(h.peer.connections).to.have.length(4);
      expect(h.client.state).to.equal('disconnected');
      expect(room.error).to.be.instanceOf(ConnectionFailedError);
      expect(h.errors.every((e) => e instanceof ConnectionFailedError)).to.equal(true);
    });

    it('retries when the connector reports the end before it returns, and connects once it can', async () => {
      const peer = new FakePeer();
      const timers = new FakeTimers();
      let refusals = 2;
      const connector: Connector = (handlers) => {
        if (refusals > 0) {
          refusals--;
          handlers.onClose(new Error('refused at once'));
          return { send() {}, close() {} };
        }
        return peer.connector(handlers);
      };
      const client = new MsghubClient({ connector, timers, reconnect: { initialDelayMs: 100, jitter: 0 } });
      const errors: ClientError[] = [];
      client.errors$.subscribe((error) => errors.push(error));
      expect(client.state).to.equal('reconnecting');
      timers.advance(100);
      timers.advance(200);
      expect(peer.connections).to.have.length(1);
      peer.last.welcome();
      await flush();
      expect(client.state).to.equal('connected');
      // The first refusal came during the constructor, before errors$ had a subscriber.
      expect(errors).to.have.length(1);
      expect(errors[0]).to.be.instanceOf(ConnectionFailedError);
      await client.close();
    });

    it('replaces a silent connection after twice the announced heartbeat', async () => {
      const h = start();
      const connection = await connect(h, 1000);
      h.timers.advance(1500);
      connection.push({ type: 'ping', ts: 1 });
      h.timers.advance(1999);
      expect(connection.ended).to.equal(false);
      h.timers.advance(1);
      expect(connection.closedByClient).to.equal(true);
      expect(h.client.state).to.equal('reconnecting');
      expect(h.errors[0]).to.be.instanceOf(ConnectionFailedError);
    });

    it('reconnects after a bye with SHUTDOWN and reports it as ConnectionEndedError', async () => {
      const h = start();
      const connection = await connect(h);
      connection.push({ type: 'bye', code: 'SHUTDOWN' });
      connection.end();
      expect(h.errors[0]).to.be.instanceOf(ConnectionEndedError).with.property('code', 'SHUTDOWN');
      h.timers.advance(500);
      expect(h.peer.connections).to.have.length(2);
    });

    it('does not reconnect after SESSION_REPLACED', async () => {
      const h = start();
      const connection = await connect(h);
      connection.push({ type: 'kicked', code: 'SESSION_REPLACED' });
      connection.end();
      h.timers.advance(60_000);
      expect(h.peer.connections).to.have.length(1);
      expect(h.client.state).to.equal('disconnected');
    });
  });

  describe('#join', () => {
    it('rejoins from the last id seen and delivers each event once, in order', async () => {
      const h = start();
      const room = collect(h.client, 'lobby');
      let connection = await connect(h);
      expect(connection.sent('join')[0]).to.deep.include({ room: 'lobby' }).and.not.have.property('since');
      connection.push(eventFrame('lobby', 1), eventFrame('lobby', 2), eventFrame('lobby', 3));
      connection.end();
      h.timers.advance(500);
      connection = await connect(h);
      expect(connection.sent('join')[0]).to.deep.include({ room: 'lobby', since: 3 });
      // A server replaying a little too much must not produce duplicates.
      connection.push(eventFrame('lobby', 2), eventFrame('lobby', 3), eventFrame('lobby', 4), eventFrame('lobby', 5));
      expect(room.ids()).to.deep.equal([1, 2, 3, 4, 5]);
    });

    it('resumes from the ok lastEventId when the connection drops before any event', async () => {
      const h = start();
      collect(h.client, 'lobby');
      h.peer.last.welcome();
      await flush();
      acceptJoins(h.peer.last, 41);
      await flush();
      h.peer.last.end();
      h.timers.advance(500);
      await connect(h);
      expect(h.peer.last.sent('join')[0]).to.deep.include({ since: 41 });
    });

    it('delivers a gap notice for events the server can no longer send', async () => {
      const h = start();
      const room = collect(h.client, 'lobby', { since: 10 });
      const connection = await connect(h);
      expect(connection.sent('join')[0]).to.deep.include({ since: 10 });
      connection.push({ type: 'gap', room: 'lobby', since: 10, resumeAt: 15, reason: 'trimmed' });
      connection.push(eventFrame('lobby', 15));
      expect(room.items[0]).to.deep.equal({ type: 'gap', chatroomId: 'lobby', since: 10, resumeAt: 15, reason: 'trimmed' });
      expect(room.ids()).to.deep.equal(['gap15', 15]);
    });

    it('fails the stream with the typed error when the server refuses the join', async () => {
      const h = start();
      const room = collect(h.client, 'vault');
      h.peer.last.welcome();
      await flush();
      const join = h.peer.last.sent('join')[0]!;
      h.peer.last.push({ type: 'error', ref: join.ref!, code: 'FORBIDDEN', message: 'no', frame: 'join' });
      await flush();
      expect(room.error).to.be.instanceOf(ForbiddenError).with.property('code', 'FORBIDDEN');
    });

    it('completes after the room closes and does not rejoin it', async () => {
      const h = start();
      const room = collect(h.client, 'lobby');
      const connection = await connect(h);
      connection.push({ type: 'event', room: 'lobby', event: { id: 1, chatroomId: 'lobby', type: 'close', unixTime: 1 } });
      expect(room.complete).to.equal(true);
      connection.end();
      h.timers.advance(500);
      await connect(h);
      expect(h.peer.last.sent('join')).to.deep.equal([]);
    });

    it('goes on after a replayed close of a room created again, and completes on its live close', async () => {
      const h = start();
      const room = collect(h.client, 'lobby');
      let connection = await connect(h);
      connection.push(eventFrame('lobby', 1), eventFrame('lobby', 2));
      connection.end();
      h.timers.advance(500);
      // The room closed meanwhile and was created again, seeded: its ids go on after the close (4).
      connection = h.peer.last;
      connection.welcome();
      await flush();
      const join = connection.sent('join')[0]!;
      expect(join).to.deep.include({ since: 2 });
      connection.push(
        { type: 'ok', ref: join.ref!, room: 'lobby', lastEventId: 4 },
        { type: 'event', room: 'lobby', event: { id: 3, chatroomId: 'lobby', type: 'leave', userId: 'ada', sessionId: 'Jm3eXo1vT0q6a9LbZx4W2g', unixTime: 3 } },
        { type: 'event', room: 'lobby', event: { id: 4, chatroomId: 'lobby', type: 'close', unixTime: 4 } },
        { type: 'event', room: 'lobby', event: { id: 5, chatroomId: 'lobby', type: 'join', userId: 'ada', sessionId: 'p8Rk2NwYb5dQeH0sVt7c_A', unixTime: 5 } },
        eventFrame('lobby', 6),
      );
      await flush();
      expect(room.complete).to.equal(false);
      expect(room.ids()).to.deep.equal([1, 2, 3, 4, 5, 6]);
      connection.push({ type: 'event', room: 'lobby', event: { id: 7, chatroomId: 'lobby', type: 'close', unixTime: 7 } });
      expect(room.complete).to.equal(true);
      expect(room.ids()).to.deep.equal([1, 2, 3, 4, 5, 6, 7]);
    });

    it('completes on the live close of a room that restarted without its history', async () => {
      const h = start();
      const room = collect(h.client, 'lobby', { since: 40 });
      let connection = h.peer.last;
      connection.welcome();
      await flush();
      connection.push({ type: 'ok', ref: connection.sent('join')[0]!.ref!, room: 'lobby', lastEventId: 50 });
      connection.push(eventFrame('lobby', 41), eventFrame('lobby', 51));
      connection.end();
      h.timers.advance(500);
      connection = h.peer.last;
      connection.welcome();
      await flush();
      expect(connection.sent('join')[0]).to.deep.include({ since: 51 });
      connection.push(
        { type: 'ok', ref: connection.sent('join')[0]!.ref!, room: 'lobby', lastEventId: 2 },
        { type: 'gap', room: 'lobby', since: 51, resumeAt: 3, reason: 'reset' },
        { type: 'event', room: 'lobby', event: { id: 3, chatroomId: 'lobby', type: 'join', userId: 'ada', sessionId: 'p8Rk2NwYb5dQeH0sVt7c_A', unixTime: 3 } },
        { type: 'event', room: 'lobby', event: { id: 4, chatroomId: 'lobby', type: 'close', unixTime: 4 } },
      );
      expect(room.ids()).to.deep.equal([41, 51, 'gap3', 3, 4]);
      expect(room.complete).to.equal(true);
    });

    it('shares one join between subscribers and leaves when the last one unsubscribes', async () => {
      const h = start();
      const a = collect(h.client, 'lobby');
      const b = collect(h.client, 'lobby');
      const connection = await connect(h);
      expect(connection.sent('join')).to.have.length(1);
      connection.push(eventFrame('lobby', 1));
      expect([a.ids(), b.ids()]).to.deep.equal([[1], [1]]);
      a.subscription.unsubscribe();
      expect(connection.sent('leave')).to.deep.equal([]);
      b.subscription.unsubscribe();
      expect(connection.sent('leave')).to.deep.equal([{ type: 'leave', room: 'lobby' }]);
    });

    it('rejects an empty room name and a negative since with InvalidArgumentError', () => {
      const h = start();
      expect(() => h.client.join('')).to.throw(InvalidArgumentError);
      expect(() => h.client.join('lobby', { since: -1 })).to.throw(InvalidArgumentError);
    });

    it('rejects an epoch that is empty, too long or given without since with InvalidArgumentError', () => {
      const h = start();
      expect(() => h.client.join('lobby', { epoch: 'e1' })).to.throw(InvalidArgumentError);
      expect(() => h.client.join('lobby', { since: 1, epoch: '' })).to.throw(InvalidArgumentError);
      expect(() => h.client.join('lobby', { since: 1, epoch: 'e'.repeat(65) })).to.throw(InvalidArgumentError);
    });
  });

  describe('epochs', () => {
    /** Answers the one join of the current connection with `ok` (and the epoch), then `frames`. */
    async function answerJoin(h: Harness, lastEventId: number, epoch: string, ...frames: ServerFrame[]) {
      const connection = h.peer.last;
      connection.welcome();
      await flush();
      const join = connection.sent('join')[0]!;
      connection.push({ type: 'ok', ref: join.ref!, room: join.room, lastEventId, epoch }, ...frames);
      await flush();
      return join;
    }

    async function reconnect(h: Harness): Promise<void> {
      h.peer.last.end();
      h.timers.advance(500);
    }

    it('rejoins with the epoch of the join answer alongside the last id seen', async () => {
      const h = start();
      collect(h.client, 'lobby');
      const first = await answerJoin(h, 4, 'e1', eventFrame('lobby', 5), eventFrame('lobby', 6));
      expect(first).to.not.have.property('epoch');
      expect(h.client.position('lobby')).to.deep.equal({ epoch: 'e1', lastEventId: 6 });
      await reconnect(h);
      const second = await answerJoin(h, 6, 'e1');
      expect(second).to.deep.include({ since: 6, epoch: 'e1' });
    });

    it('takes a new epoch at its reset gap and delivers the new sequence from its start, lower ids included', async () => {
      const h = start();
      const room = collect(h.client, 'lobby');
      await answerJoin(h, 40, 'e1', eventFrame('lobby', 41), eventFrame('lobby', 42));
      await reconnect(h);
      // The room's store was replaced: a new sequence whose history still holds ids 1 to 3.
      const join = await answerJoin(
        h,
        3,
        'e2',
        { type: 'gap', room: 'lobby', since: 42, resumeAt: 1, reason: 'reset', epoch: 'e2' },
        eventFrame('lobby', 1),
        eventFrame('lobby', 2),
        eventFrame('lobby', 2),
        eventFrame('lobby', 3),
        eventFrame('lobby', 4),
      );
      expect(join).to.deep.include({ since: 42, epoch: 'e1' });
      expect(room.ids()).to.deep.equal([41, 42, 'gap1', 1, 2, 3, 4]);
      expect(room.items.filter((item) => item.type === 'gap')).to.deep.equal([
        { type: 'gap', chatroomId: 'lobby', since: 42, resumeAt: 1, reason: 'reset', epoch: 'e2' },
      ]);
      expect(h.client.position('lobby')).to.deep.equal({ epoch: 'e2', lastEventId: 4 });
      await reconnect(h);
      expect(await answerJoin(h, 4, 'e2')).to.deep.include({ since: 4, epoch: 'e2' });
    });

    it('keeps the old position when the connection drops between the answer naming a new epoch and its gap', async () => {
      const h = start();
      const room = collect(h.client, 'lobby');
      await answerJoin(h, 40, 'e1', eventFrame('lobby', 41));
      await reconnect(h);
      await answerJoin(h, 3, 'e2');
      await reconnect(h);
      // Still (e1, 41): the server is asked again with a pair it can compare, and answers with the reset.
      const reset: ServerFrame = { type: 'gap', room: 'lobby', since: 41, resumeAt: 1, reason: 'reset', epoch: 'e2' };
      expect(await answerJoin(h, 3, 'e2', reset, eventFrame('lobby', 1))).to.deep.include({ since: 41, epoch: 'e1' });
      expect(room.ids()).to.deep.equal([41, 'gap1', 1]);
    });

    it('resumes from a stored position: join sends since with its epoch', async () => {
      const h = start();
      const room = collect(h.client, 'lobby', { since: 9, epoch: 'e1' });
      expect(h.client.position('lobby')).to.deep.equal({ epoch: 'e1', lastEventId: 9 });
      const join = await answerJoin(h, 12, 'e1', eventFrame('lobby', 10));
      expect(join).to.deep.include({ since: 9, epoch: 'e1' });
      expect(room.ids()).to.deep.equal([10]);
    });

    it('adopts the epoch of a trimmed gap', async () => {
      const h = start();
      const room = collect(h.client, 'lobby', { since: 3 });
      const trimmed: ServerFrame = { type: 'gap', room: 'lobby', since: 3, resumeAt: 18, reason: 'trimmed', epoch: 'e1' };
      await answerJoin(h, 20, 'e1', trimmed, eventFrame('lobby', 18));
      expect(room.items[0]).to.deep.equal({ type: 'gap', chatroomId: 'lobby', since: 3, resumeAt: 18, reason: 'trimmed', epoch: 'e1' });
      expect(h.client.position('lobby')).to.deep.equal({ epoch: 'e1', lastEventId: 18 });
    });

    it('reports no position for a room that is not joined', () => {
      const h = start();
      expect(h.client.position('lobby')).to.equal(undefined);
    });
  });

  describe('#leave', () => {
    it('sends leave, completes the stream and does not rejoin after a reconnect', async () => {
      const h = start();
      const room = collect(h.client, 'lobby');
      const connection = await connect(h);
      const left = h.client.leave('lobby');
      const leave = connection.sent('leave')[0]!;
      connection.push({ type: 'ok', ref: leave.ref!, room: 'lobby' });
      await left;
      expect(room.complete).to.equal(true);
      connection.end();
      h.timers.advance(500);
      await connect(h);
      expect(h.peer.last.sent('join')).to.deep.equal([]);
    });
  });

  describe('send buffer', () => {
    it('queues while disconnected and flushes in order after the rooms are rejoined', async () => {
      const h = start();
      collect(h.client, 'lobby');
      expect(h.client.publish('lobby', 'a')).to.equal('queued');
      expect(h.client.direct('bob', 'b')).to.equal('queued');
      expect(h.client.publish('lobby', 'c')).to.equal('queued');
      h.peer.last.welcome();
      await flush();
      // Nothing but the join before the join is answered: publishes must not overtake it.
      expect(h.peer.last.received.map((f) => f.type)).to.deep.equal(['hello', 'join']);
      expect(h.client.state).to.equal('connecting');
      acceptJoins(h.peer.last);
      await flush();
      expect(h.peer.last.received.slice(2)).to.deep.equal([
        { type: 'publish', room: 'lobby', data: 'a' },
        { type: 'direct', to: 'bob', data: 'b' },
        { type: 'publish', room: 'lobby', data: 'c' },
      ]);
      expect(h.client.state).to.equal('connected');
      expect(h.client.publish('lobby', 'd')).to.equal('sent');
    });

    it('discards after the buffer timeout and when full, through onDiscard and discarded$', async () => {
      const seen: Discarded[] = [];
      const h = start({ sendBuffer: { maxFrames: 2, timeoutMs: 1000 }, onDiscard: (d) => seen.push(d) });
      expect([h.client.publish('r', 1), h.client.publish('r', 2), h.client.publish('r', 3)]).to.deep.equal([
        'queued',
        'queued',
        'discarded',
      ]);
      h.timers.advance(1000);
      expect(h.discarded.map((d) => [d.frame.type === 'publish' && d.frame.data, d.reason])).to.deep.equal([
        [3, 'full'],
        [1, 'timeout'],
        [2, 'timeout'],
      ]);
      expect(seen).to.deep.equal(h.discarded);
    });
  });

  describe('#request', () => {
    it('resolves with the response data and rejects with the typed server error', async () => {
      const h = start();
      const connection = await connect(h);
      const ok = h.client.request('time', { tz: 'UTC' });
      const bad = h.client.request('nope');
      const [first, second] = connection.sent('request');
      expect(first).to.deep.equal({ type: 'request', ref: first!.ref, op: 'time', data: { tz: 'UTC' } });
      connection.push({ type: 'response', ref: first!.ref, data: 1234 });
      connection.push({ type: 'error', ref: second!.ref, code: 'UNKNOWN_OP', message: 'no', frame: 'request' });
      expect(await ok).to.equal(1234);
      const error = await bad.catch((e: unknown) => e);
      expect(error).to.be.instanceOf(UnknownOpError).with.property('code', 'UNKNOWN_OP');
    });

    it('rejects with RequestTimeoutError after its timeout', async () => {
      const h = start();
      await connect(h);
      const pending = h.client.request('slow', undefined, { timeoutMs: 200 }).catch((e: unknown) => e);
      h.timers.advance(200);
      expect(await pending).to.be.instanceOf(RequestTimeoutError).with.property('code', 'REQUEST_TIMEOUT');
    });

    it('rejects a written request with DisconnectedError when the connection drops, and never resends it', async () => {
      const h = start();
      const connection = await connect(h);
      const pending = h.client.request('charge').catch((e: unknown) => e);
      connection.end();
      expect(await pending).to.be.instanceOf(DisconnectedError).with.property('code', 'DISCONNECTED');
      h.timers.advance(500);
      await connect(h);
      expect(h.peer.last.sent('request')).to.deep.equal([]);
    });

    it('rejects with DisconnectedError at once when the carrier refuses the write', async () => {
      const peer = new FakePeer();
      const timers = new FakeTimers();
      let refuse = false;
      const connector: Connector = (handlers) => {
        const connection = peer.connector(handlers) as PeerConnection;
        const send = connection.send.bind(connection);
        connection.send = (text) => {
          if (refuse) throw new Error('socket is closing');
          send(text);
        };
        return connection;
      };
      const client = new MsghubClient({ connector, timers });
      peer.last.welcome();
      await flush();
      refuse = true;
      const pending = client.request('charge').catch((e: unknown) => e);
      await flush();
      expect(await pending).to.be.instanceOf(DisconnectedError).with.property('code', 'DISCONNECTED');
      expect(client.state).to.equal('reconnecting');
      await client.close();
    });

    it('sends a request made while disconnected after the reconnect', async () => {
      const h = start();
      const pending = h.client.request('time');
      const connection = await connect(h);
      const request = connection.sent('request')[0]!;
      connection.push({ type: 'response', ref: request.ref, data: 'now' });
      expect(await pending).to.equal('now');
    });

    it('rejects with SendDiscardedError when the buffered request expires', async () => {
      const h = start({ sendBuffer: { timeoutMs: 100 } });
      const pending = h.client.request('time').catch((e: unknown) => e);
      h.timers.advance(100);
      expect(await pending).to.be.instanceOf(SendDiscardedError).with.property('reason', 'timeout');
    });
  });

  describe('#publishAsync', () => {
    it('reports sent and resolves with the committed id of the answer', async () => {
      const h = start();
      const connection = await connect(h);
      const sent = h.client.publishAsync('lobby', 'hi');
      expect(sent.status).to.equal('sent');
      const frame = connection.sent('publish')[0]!;
      expect(frame).to.deep.equal({ type: 'publish', ref: frame.ref, room: 'lobby', data: 'hi' });
      connection.push({ type: 'ok', ref: frame.ref!, id: 42 });
      expect(await sent).to.equal(42);
    });

    it('resolves with undefined when the server answers without an id (it published nothing)', async () => {
      const h = start();
      const connection = await connect(h);
      const sent = h.client.publishAsync('lobby', '/nick bob');
      connection.push({ type: 'ok', ref: connection.sent('publish')[0]!.ref! });
      expect(await sent).to.equal(undefined);
    });

    it('rejects with the typed server error and leaves errors$ alone', async () => {
      const h = start();
      const connection = await connect(h);
      const refusals = [
        ['NOT_JOINED', RoomError],
        ['FORBIDDEN', ForbiddenError],
        ['UNENCODABLE', ProtocolError],
        ['STORE_FAILED', OperationError],
      ] as const;
      for (const [code, ErrorClass] of refusals) {
        const sent = h.client.publishAsync('lobby', code).catch((e: unknown) => e);
        const frame = connection.sent('publish').at(-1)!;
        connection.push({ type: 'error', ref: frame.ref!, code, message: 'no', frame: 'publish' });
        const error = await sent;
        expect(error).to.be.instanceOf(ErrorClass).with.property('code', code);
        expect(error).to.have.property('frame', 'publish');
      }
      expect(h.errors).to.deep.equal([]);
    });

    it('queues while disconnected with a ref, and resolves after the flush with the answer on the new connection', async () => {
      const h = start();
      collect(h.client, 'lobby');
      const first = await connect(h);
      first.end();
      const a = h.client.publishAsync('lobby', 'a');
      const b = h.client.publishAsync('lobby', 'b');
      expect([a.status, b.status]).to.deep.equal(['queued', 'queued']);
      h.timers.advance(500);
      const second = await connect(h);
      const [fa, fb] = second.sent('publish');
      expect([fa?.data, fb?.data]).to.deep.equal(['a', 'b']);
      expect(fa!.ref).to.not.equal(fb!.ref);
      // Refs are never reused: not those of the joins either.
      const refs = [...first.received, ...second.received].flatMap((f) => ('ref' in f && f.ref !== undefined ? [f.ref] : []));
      expect(new Set(refs).size).to.equal(refs.length);
      second.push({ type: 'ok', ref: fb!.ref!, id: 8 }, { type: 'ok', ref: fa!.ref!, id: 7 });
      expect(await Promise.all([a, b])).to.deep.equal([7, 8]);
    });

    it('rejects with DisconnectedError when the connection drops before the answer, and never sends it again', async () => {
      const h = start();
      const connection = await connect(h);
      const sent = h.client.publishAsync('lobby', 'maybe').catch((e: unknown) => e);
      connection.end();
      expect(await sent).to.be.instanceOf(DisconnectedError).with.property('code', 'DISCONNECTED');
      h.timers.advance(500);
      await connect(h);
      expect(h.peer.last.sent('publish')).to.deep.equal([]);
    });

    it('rejects with SendDiscardedError when the buffer drops it, and still reports the discard', async () => {
      const seen: Discarded[] = [];
      const h = start({ sendBuffer: { maxFrames: 1, timeoutMs: 1000 }, onDiscard: (d) => seen.push(d) });
      const kept = h.client.publishAsync('lobby', 'kept').catch((e: unknown) => e);
      const full = h.client.publishAsync('lobby', 'full');
      expect(full.status).to.equal('discarded');
      expect(await full.catch((e: unknown) => e)).to.be.instanceOf(SendDiscardedError).with.property('reason', 'full');
      h.timers.advance(1000);
      expect(await kept).to.be.instanceOf(SendDiscardedError).with.property('reason', 'timeout');
      expect(seen.map((d) => [d.frame.type === 'publish' && d.frame.data, d.reason])).to.deep.equal([
        ['full', 'full'],
        ['kept', 'timeout'],
      ]);
      expect(h.discarded).to.deep.equal(seen);
    });

    it('counts its timeout from the write, not from the time it waited in the buffer', async () => {
      const h = start({ requestTimeoutMs: 1000 });
      const sent = h.client.publishAsync('lobby', 'x', { timeoutMs: 300 }).catch((e: unknown) => e);
      h.timers.advance(5000);
      await connect(h);
      h.timers.advance(299);
      const frame = h.peer.last.sent('publish')[0]!;
      expect(frame.data).to.equal('x');
      h.timers.advance(1);
      expect(await sent).to.be.instanceOf(RequestTimeoutError).with.property('code', 'REQUEST_TIMEOUT');
    });

    it('on close, rejects one still in the buffer with SendDiscardedError: reason closed, the cause why', async () => {
      const h = start();
      const buffered = h.client.publishAsync('lobby', 'buffered');
      expect(buffered.status).to.equal('queued');
      await h.client.close();
      const error = await buffered.catch((e: unknown) => e);
      expect(error).to.be.instanceOf(SendDiscardedError).with.property('reason', 'closed');
      expect((error as Error).cause).to.be.instanceOf(ClientClosedError);
      expect(h.discarded.map((d) => d.reason)).to.deep.equal(['closed']);
    });

    it('on close, rejects one written and still waiting for its answer with ClientClosedError', async () => {
      const h = start();
      await connect(h);
      const written = h.client.publishAsync('lobby', 'written');
      expect(written.status).to.equal('sent');
      await h.client.close();
      expect(await written.catch((e: unknown) => e)).to.be.instanceOf(ClientClosedError);
    });

    it('on a closed client, reports discarded and rejects with SendDiscardedError', async () => {
      const h = start();
      await h.client.close();
      const sent = h.client.publishAsync('lobby', 'late');
      expect(sent.status).to.equal('discarded');
      expect(await sent.catch((e: unknown) => e)).to.be.instanceOf(SendDiscardedError).with.property('reason', 'closed');
    });

    it('rejects an empty room name and a timeout that is not > 0 with InvalidArgumentError', () => {
      const h = start();
      expect(() => h.client.publishAsync('', 'x')).to.throw(InvalidArgumentError);
      expect(() => h.client.publishAsync('lobby', 'x', { timeoutMs: 0 })).to.throw(InvalidArgumentError);
    });
  });

  describe('#directAsync', () => {
    it('resolves a whisper with its committed id and a user-to-user message with undefined', async () => {
      const h = start();
      const connection = await connect(h);
      const whisper = h.client.directAsync('grace', 'psst', { room: 'lobby' });
      const direct = h.client.directAsync('grace', 'hi');
      const [fw, fd] = connection.sent('direct');
      expect(fw).to.deep.equal({ type: 'direct', ref: fw!.ref, to: 'grace', data: 'psst', room: 'lobby' });
      expect(fd).to.deep.equal({ type: 'direct', ref: fd!.ref, to: 'grace', data: 'hi' });
      connection.push({ type: 'ok', ref: fw!.ref!, id: 12 }, { type: 'ok', ref: fd!.ref! });
      expect(await whisper).to.equal(12);
      expect(await direct).to.equal(undefined);
    });

    it('rejects with OperationError OFFLINE_QUEUE_FULL when the server cannot keep it', async () => {
      const h = start();
      const connection = await connect(h);
      const direct = h.client.directAsync('grace', 'hi').catch((e: unknown) => e);
      const frame = connection.sent('direct')[0]!;
      connection.push({ type: 'error', ref: frame.ref!, code: 'OFFLINE_QUEUE_FULL', message: 'full', frame: 'direct' });
      expect(await direct).to.be.instanceOf(OperationError).with.property('code', 'OFFLINE_QUEUE_FULL');
    });
  });

  describe('#signal', () => {
    it('writes a signal frame without a ref while connected, and drops it, unbuffered and unreported, otherwise', async () => {
      const h = start();
      expect(h.client.signal('lobby', { typing: true })).to.equal('discarded');
      const connection = await connect(h);
      expect(h.client.signal('lobby', { typing: true })).to.equal('sent');
      expect(connection.sent('signal')).to.deep.equal([{ type: 'signal', room: 'lobby', data: { typing: true } }]);
      await h.client.close();
      expect(h.client.signal('lobby', { typing: false })).to.equal('discarded');
      expect(h.discarded).to.deep.equal([]);
      expect(() => h.client.signal('', 1)).to.throw(InvalidArgumentError);
    });

    it('hands signals of joined rooms to signals$, and ignores those of rooms it is not in', async () => {
      const h = start();
      collect(h.client, 'lobby');
      const connection = await connect(h);
      const received: unknown[] = [];
      h.client.signals$.subscribe((signal) => received.push(signal));
      connection.push(
        { type: 'signal', room: 'lobby', from: 'grace', data: { typing: true } },
        { type: 'signal', room: 'elsewhere', from: 'grace', data: { typing: true } },
      );
      await flush();
      expect(received).to.deep.equal([{ room: 'lobby', from: 'grace', data: { typing: true } }]);
    });
  });

  describe('#close', () => {
    it('says bye, fails pending requests with ClientClosedError, completes rooms and state$', async () => {
      const h = start();
      const room = collect(h.client, 'lobby');
      const connection = await connect(h);
      const pending = h.client.request('time').catch((e: unknown) => e);
      let stateDone = false;
      h.client.state$.subscribe({ complete: () => (stateDone = true) });
      await h.client.close();
      expect(connection.received.at(-1)).to.deep.equal({ type: 'bye' });
      expect(connection.closedByClient).to.equal(true);
      expect(await pending).to.be.instanceOf(ClientClosedError).with.property('code', 'CLIENT_CLOSED');
      expect(room.complete).to.equal(true);
      expect(stateDone).to.equal(true);
      expect(h.states.at(-1)).to.equal('disconnected');
      expect(h.client.publish('lobby', 'late')).to.equal('discarded');
      const late = await h.client.request('time').catch((e: unknown) => e);
      expect(late).to.be.instanceOf(ClientClosedError);
      await h.client.close();
    });

    it('discards what waits in the send buffer with reason closed; a buffered request rejects with SendDiscardedError', async () => {
      const h = start();
      h.client.publish('lobby', 'a');
      const request = h.client.request('time').catch((e: unknown) => e);
      await h.client.close();
      expect(h.discarded.map((d) => d.reason)).to.deep.equal(['closed', 'closed']);
      const error = await request;
      expect(error).to.be.instanceOf(SendDiscardedError).with.property('reason', 'closed');
      expect((error as Error).cause).to.be.instanceOf(ClientClosedError);
      h.timers.advance(60_000);
      expect(h.peer.connections).to.have.length(1);
    });
  });
});
