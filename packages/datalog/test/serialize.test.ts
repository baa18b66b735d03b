import { expect } from 'chai';
import fc from 'fast-check';
import { MessageHub, type HubEvent } from '@msghub/messagehub';
import { serializeHubEvent } from '../src/serialize.js';

function ignore(): void {}

/** Every kind of event a real hub emits, with the given ids, texts and payload. */
async function hubEvents<T>(room: string, user: string, other: string, payload: T, clock: number): Promise<HubEvent<T>[]> {
  const hub = new MessageHub<T>({ chatroomId: room, clock: () => clock });
  const events: HubEvent<T>[] = [];
  hub.attachListener((event) => {
    events.push(event);
  });
  hub.add(user, 's1').subscribe({ error: ignore });
  hub.add(user, `${other}-2`).subscribe({ error: ignore });
  hub.add(`${other}!`, 's1').subscribe({ error: ignore });
  void hub.message(user, payload);
  void hub.whisper(user, `${other}!`, payload);
  void hub.system(payload);
  void hub.systemWhisper(user, payload);
  await hub.remove(user, `${other}-2`);
  await hub.remove(user, 's1');
  await hub.close();
  return events;
}

describe('serializeHubEvent', () => {
  it('writes exactly what JSON.stringify writes for every kind of hub event and any text (property)', async () => {
    const text = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 });
    await fc.assert(
      fc.asyncProperty(text, text, text, text, async (room, user, other, message) => {
        for (const event of await hubEvents(room, user, other, message, 1_700_000_000_123)) {
          expect(serializeHubEvent(event)).to.equal(JSON.stringify(event));
        }
      }),
      { numRuns: 150 },
    );
  });

  it('matches JSON.stringify for object payloads, odd numbers and payloads JSON leaves out', async () => {
    const payloads: unknown[] = [{ a: [1, 'é', null], toJSON: undefined }, { toJSON: () => 'custom' }, 42, null, true, undefined, () => 1];
    for (const payload of payloads) {
      for (const clock of [0, -0, 1e21, 0.5, Number.NaN, Infinity]) {
        for (const event of await hubEvents('r', 'u', 'v', payload, clock)) {
          expect(serializeHubEvent(event as HubEvent<unknown>)).to.equal(JSON.stringify(event));
        }
      }
    }
  });
});
