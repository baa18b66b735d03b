import { expect } from 'chai';
import type { ConnectionInfo } from '../src/index.js';
import { cleanup, startServer } from './helpers.js';

describe('hooks', () => {
  afterEach(cleanup);

  it('beforeReceive may rewrite or drop a client frame', async () => {
    const { user } = await startServer({
      beforeReceive: (frame) => {
        if (frame.type === 'publish' && frame.data === 'drop') return null;
        if (frame.type === 'publish') return { ...frame, data: String(frame.data).toUpperCase() };
        return frame;
      },
    });
    const ada = await user('ada');
    ada.send({ type: 'join', ref: 1, room: 'x' });
    await ada.next('ok');
    ada.send({ type: 'publish', ref: 2, room: 'x', data: 'drop' });
    ada.send({ type: 'publish', ref: 3, room: 'x', data: 'shout' });
    const message = await ada.waitFor((f) => f.type === 'event' && (f['event'] as { type: string }).type === 'message');
    expect((message['event'] as { message: unknown }).message).to.equal('SHOUT');
    expect(ada.frames.some((f) => f['ref'] === 2)).to.equal(false);
  });

  it('beforeSend may rewrite or drop a server frame; afterSend sees every write', async () => {
    const sent: string[] = [];
    const { user } = await startServer({
      beforeSend: (frame) => {
        if (frame.type === 'pong') return null;
        if (frame.type === 'event') return { ...frame, room: `~${frame.room}` };
        return frame;
      },
      afterSend: (frames) => void sent.push(...frames),
    });
    const ada = await user('ada');
    ada.send({ type: 'ping' });
    ada.send({ type: 'join', ref: 1, room: 'x' });
    expect(await ada.next('event')).to.include({ room: '~x' });
    expect(ada.frames.some((f) => f.type === 'pong')).to.equal(false);
    expect(sent.map((text) => (JSON.parse(text) as { type: string }).type)).to.deep.equal(['welcome', 'ok', 'event']);
  });

  it('survives a beforeSend that returns a frame JSON cannot hold: the request gets INTERNAL', async () => {
    const reported: unknown[] = [];
    const { user } = await startServer({
      onError: (error) => void reported.push(error),
      beforeSend: (frame) => (frame.type === 'ok' ? { ...frame, extra: 1n } as typeof frame : frame),
    });
    const ada = await user('ada');
    ada.send({ type: 'join', ref: 1, room: 'x' });
    expect(await ada.next('error')).to.include({ code: 'INTERNAL', ref: 1 });
    expect(reported).to.have.length(1);
    ada.send({ type: 'ping', ts: 7 });
    expect(await ada.next('pong')).to.include({ ts: 7 });
  });

  it('calls onConnect after welcome and onDisconnect with the close code', async () => {
    const log: string[] = [];
    const { user, server } = await startServer({
      onConnect: (c: ConnectionInfo) => void log.push(`connect ${c.userId} ${c.transport}`),
      onDisconnect: (c: ConnectionInfo, code: string) => void log.push(`disconnect ${c.userId} ${code}`),
    });
    const ada = await user('ada', 'tcp');
    server.kick('ada');
    await ada.closed;
    expect(log).to.deep.equal(['connect ada tcp', 'disconnect ada KICKED']);
  });

  it('a throwing hook is reported and the frame answered with INTERNAL; the connection survives', async () => {
    const reported: unknown[] = [];
    const { user } = await startServer({
      onError: (error) => reported.push(error),
      beforeReceive: (frame) => {
        if (frame.type === 'request') throw new Error('hook bug');
        return frame;
      },
    });
    const ada = await user('ada');
    ada.send({ type: 'request', ref: 1, op: 'online', data: { user: 'x' } });
    expect(await ada.next('error')).to.include({ code: 'INTERNAL', ref: 1 });
    ada.send({ type: 'ping', ts: 2 });
    expect(await ada.next('pong')).to.include({ ts: 2 });
    expect(reported).to.have.length(1);
  });

  describe('messageEncoder', () => {
    it('transforms, suppresses and answers commands such as /users', async () => {
      const { user } = await startServer({
        messageEncoder: async (data, { hub, reply }) => {
          if (data === '/users') {
            const presence = await hub.presence();
            await reply(`users: ${presence.map((p) => p.userId).join(', ')}`);
            return undefined;
          }
          if (data === 'secret') return undefined;
          return { text: data, at: 'encoded' };
        },
      });
      const ada = await user('ada');
      const bob = await user('bob');
      for (const c of [ada, bob]) {
        c.send({ type: 'join', ref: 1, room: 'x' });
        await c.next('ok');
      }
      ada.send({ type: 'publish', ref: 2, room: 'x', data: '/users' });
      const answer = await ada.waitFor((f) => f.type === 'event' && (f['event'] as { to?: string }).to === 'ada');
      expect((answer['event'] as { message: unknown }).message).to.equal('users: ada, bob');
      expect((answer['event'] as { userId?: string }).userId).to.equal(undefined);
      ada.send({ type: 'publish', ref: 3, room: 'x', data: 'secret' });
      await ada.waitFor((f) => f.type === 'ok' && f['ref'] === 3);
      ada.send({ type: 'publish', ref: 4, room: 'x', data: 'hello' });
      const seen = await bob.waitFor((f) => f.type === 'event' && (f['event'] as { type: string }).type === 'message' && (f['event'] as { to?: string }).to === undefined);
      expect((seen['event'] as { message: unknown }).message).to.deep.equal({ text: 'hello', at: 'encoded' });
      expect(bob.frames.some((f) => JSON.stringify(f).includes('secret') || JSON.stringify(f).includes('users:'))).to.equal(false);
    });
  });
});
