// Who may be where: tokens bound to rooms, a room that admits one session per user, a room that is
// created once, and a message from server code to one connection.
import { createClient } from '@msghub/client/node';
import { HubServer } from '@msghub/transport';

const server = new HubServer({ uniqueUsers: (room) => room.startsWith('match:') });
const { ws } = await server.listen({ ws: { port: 0 } });
const url = `ws://127.0.0.1:${ws!.port}/`;

/** Joins `room` and stays: resolves with the first item (the client's own join), rejects when refused. */
function enter(client: ReturnType<typeof createClient>, room: string): Promise<void> {
  return new Promise((resolve, reject) => client.join(room).subscribe({ next: () => resolve(), error: reject }));
}

server.rooms.create('match:42', { ifExists: 'fail' });
try {
  server.rooms.create('match:42', { ifExists: 'fail' }); // a second match of that name: refused
} catch (error) {
  console.log('create again:', (error as { code: string }).code);
}

// Each connection takes a new single-use token, bound to the lobby and every match.
const token = () => server.tokens.issue('ada', { rooms: ['lobby', 'match:*'] });
const ada = createClient({ url, token });
await enter(ada, 'match:42');
await enter(ada, 'admin').catch((error: { code: string }) => console.log('join admin:', error.code));

const secondTab = createClient({ url, token });
await enter(secondTab, 'match:42').catch((error: { code: string }) => console.log('second tab:', error.code));
await enter(secondTab, 'lobby'); // the lobby is not unique

// Server code reaches exactly one connection: the second tab, not the first.
const got = new Promise<unknown>((resolve) => secondTab.direct$.subscribe((message) => resolve(message.data)));
const [, second] = server.connections(); // ada's first connection, then the second tab's
server.sendTo(second!.id, 'only this tab');
console.log('second tab got:', await got);

await Promise.all([ada.close(), secondTab.close()]);
await server.close();
