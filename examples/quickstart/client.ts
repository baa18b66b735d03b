import { createClient } from '@msghub/client/node'; // '@msghub/client' in browsers

const base = process.env.MSGHUB_HTTP ?? 'http://127.0.0.1:8080'; // `pnpm start`, or server.ts

// Development only: a server with devTokens (msghub-server --dev-tokens) issues tokens to anyone.
async function fetchTokenFor(user: string): Promise<string> {
  const response = await fetch(`${base}/dev/token`, { method: 'POST', body: JSON.stringify({ user }) });
  return ((await response.json()) as { token: string }).token;
}

// A function, so every reconnect presents a fresh single-use token.
const client = createClient({ url: base.replace('http', 'ws'), token: () => fetchTokenFor('ada') });
client.errors$.subscribe((error) => console.error(error.code, error.message)); // e.g. no server yet
client.join<string>('lobby').subscribe((item) => {
  if (item.type !== 'message') {
    console.log(item.type); // join, leave, ... (and a gap notice, only on resume)
  } else {
    console.log(`${item.userId}: ${item.message}`);
    if (item.userId === client.userId) void client.close(); // our own message is back: done
  }
});
console.log(client.publish('lobby', 'hello from ada')); // 'sent' | 'queued' | 'discarded'
