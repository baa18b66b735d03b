import { HubServer } from '@msghub/transport';
import { createClient } from '@msghub/client/node';
import { setTimeout as sleep } from 'node:timers/promises';
import { firstValueFrom, take, toArray } from 'rxjs';

const server = new HubServer({ trustClientUser: true }); // development: clients name themselves
const { tcp } = await server.listen({ tcp: { port: 0 } });

// A stream: the handler is an async generator; `finally` runs when the client unsubscribes.
let finalized!: () => void;
const countdownEnded = new Promise<void>((resolve) => (finalized = resolve));
server.handle('countdown', async function* (input) {
  try {
    for (let n = Number(input); n >= 0; n--) {
      yield n;
      await sleep(10);
    }
  } finally {
    finalized();
  }
});
// A handler that asks its own client something back.
server.handle('greet', async (_input, { connection }) => `hello ${await connection.request<string>('name')}`);
const cursor = new Promise((resolve) => server.onNotify('cursor', (position, { connection }) => resolve([connection.userId, position])));

const client = createClient({ url: `tcp://127.0.0.1:${tcp!.port}`, user: 'ada' });
client.handle('name', () => 'Ada Lovelace');

console.log(await firstValueFrom(client.stream<number>('countdown', 10).pipe(take(3), toArray())));
await countdownEnded;
console.log('countdown finalized');

client.notify('cursor', { x: 3, y: 4 });
console.log('cursor of', await cursor);
const news = firstValueFrom(client.notifications<string>('news'));
server.notify(server.connections()[0]!.id, 'news', 'the server calls you');
console.log('news:', await news);

const greeting = client.request<string>('greet');
await client.close({ drain: true, timeoutMs: 2000 }); // waits for the answer to `greet`
console.log(await greeting);
await server.close();
