// A backend (a cron job, a web app) talks to the server over HTTP with the API key: it publishes
// into a room, reads the room back, and sends a user a direct message, queued while they are offline.
const base = process.env.MSGHUB_HTTP ?? 'http://127.0.0.1:8080';
const headers = { authorization: `Bearer ${process.env.MSGHUB_API_KEY}`, 'content-type': 'application/json' };

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  if (!response.ok) {
    const { code, message } = (await response.json()) as { code: string; message: string }; // e.g. INVALID_FIELD
    throw new Error(`${response.status} ${code}: ${message}`);
  }
  return (await response.json()) as T;
}

const { id } = await call<{ id: number }>('POST', '/rooms/lobby/publish', { data: { text: 'deploy finished' }, from: 'ci-bot' });
console.log('published as', id);
const { events } = await call<{ events: { id: number; message?: unknown }[] }>('GET', `/rooms/lobby/history?since=${id - 1}&limit=10`);
console.log(events.map((event) => event.message));
await call<{ id: string }>('POST', '/users/ada/send', { data: 'your report is ready', from: 'reports', ttlMs: 3_600_000 });
console.log('sent');
