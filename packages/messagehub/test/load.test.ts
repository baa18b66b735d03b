import { expect } from 'chai';
import { MessageHub, type HubEvent } from '../src/index.js';
import { record } from './helpers.js';

describe('MessageHub under load', () => {
  it('delivers 200k messages fired at one subscriber without awaiting each, all in order', async () => {
    const hub = new MessageHub<number>({ chatroomId: 'load' });
    let count = 0;
    let ordered = true;
    let previous = 0;
    hub.add('ada', 's1').subscribe((event) => {
      if (event.id !== previous + 1) ordered = false;
      previous = event.id;
      if (event.type === 'message') {
        if (event.message !== count) ordered = false;
        count++;
      }
    });
    const total = 200_000;
    let last: Promise<void> = Promise.resolve();
    for (let i = 0; i < total; i++) last = hub.message('ada', i);
    await last;
    await hub.close();
    expect(count).to.equal(total);
    expect(ordered).to.equal(true);
    expect(previous).to.equal(total + 2); // join, 200k messages, close
  });

  it('delivers every message to every one of 1000 sessions', async () => {
    const hub = new MessageHub<number>({ chatroomId: 'fanout', historySize: 16 });
    const streams = Array.from({ length: 1000 }, (_, i) => record(hub.add(`u${i}`, 's')));
    for (let i = 0; i < 200; i++) void hub.message('u0', i);
    await hub.close();
    for (const [i, stream] of streams.entries()) {
      const events = (await stream.done) as HubEvent<number>[];
      const messages = events.filter((e) => e.type === 'message');
      expect(messages.length, `session ${i}`).to.equal(200);
      expect(events.map((e) => e.id)).to.deep.equal(Array.from({ length: events.length }, (_, k) => i + 1 + k));
    }
  });
});
