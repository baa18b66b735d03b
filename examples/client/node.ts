import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createClient, RequestTimeoutError } from '@msghub/client/node';

// MSGHUB_TOKEN: from your login endpoint (in development: POST /dev/token, see docs/transport.md).
const client = createClient({ url: process.env.MSGHUB_URL ?? 'tcp://127.0.0.1:8081', token: process.env.MSGHUB_TOKEN });
// or: createClient({ url: 'ws://127.0.0.1:8080/hub', headers: { authorization: `Bearer ${jwt}` } })

// Resume where an earlier run stopped: the room's position ({ since, epoch }) kept in a file.
const saved = existsSync('position.json') ? (JSON.parse(readFileSync('position.json', 'utf8')) as { since: number; epoch?: string }) : undefined;
console.log('since', saved?.since ?? 0);
const lobby = client.join<string>('lobby', saved ?? {});
lobby.subscribe(() => {
  const { lastEventId, epoch } = client.position('lobby')!;
  writeFileSync('position.json', JSON.stringify({ since: lastEventId, epoch }));
});

const id = await client.publishAsync('lobby', 'hello'); // resolves once stored: the id subscribers see it under
console.log('published as', id);

client.direct('grace', 'psst');                 // user-to-user (kept by the server until grace's client acknowledges it)
client.direct('grace', 'lunch?', { ttlMs: 3_600_000 }); // not delivered at all after an hour
client.direct('grace', 'psst', { room: 'lobby' }); // a whisper inside the room
client.direct$.subscribe((m) => console.log('from', m.from, m.data));

try {
  console.log('presence', await client.request('presence', { room: 'lobby' }, { timeoutMs: 2000 }));
} catch (error) {
  if (error instanceof RequestTimeoutError) console.warn('no answer within 2 s');
  else throw error;
}

await client.close();
