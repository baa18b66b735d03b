import { createClient } from '@msghub/client/node';

// WebSocket when it gets through, the HTTP carrier when it does not; `carrier` forces one.
const client = createClient({
  url: process.env.MSGHUB_URL ?? 'ws://127.0.0.1:8080/',
  user: 'ada',
  carrier: 'auto',
  fallback: { webSocketFailures: 2, retryWebSocketAfterMs: 60_000 },
  reconnect: { initialDelayMs: 100 },
});
client.carrier$.subscribe((carrier) => console.log('carrier', carrier)); // undefined, then 'websocket' or 'http'
client.join('lobby').subscribe();
const id = await client.publishAsync('lobby', 'hello'); // waits in the send buffer until connected
console.log('published as', id, 'over', client.carrier);
await client.close();
