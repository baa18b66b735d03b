// A room for thousands: nobody is told when a member joins or leaves (no join/leave events, no ids
// spent on them), and the presence request still lists everyone who is in.
import { createClient } from '@msghub/client/node';
import { HubServer } from '@msghub/transport';

const server = new HubServer({ trustClientUser: true });
const { ws } = await server.listen({ ws: { port: 0 } });
const url = `ws://127.0.0.1:${ws!.port}/`;

server.rooms.create('stadium', { presenceEvents: 'none' });
try {
  server.rooms.create('stands', { presenceEvents: 'quiet' as 'none' });
} catch (error) {
  console.log('bad value:', (error as { code: string }).code);
}

const ada = createClient({ url, user: 'ada' });
const bob = createClient({ url, user: 'bob' });
const cy = createClient({ url, user: 'cy' });
const seen: string[] = [];
ada.join('stadium').subscribe((item) => seen.push(item.type === 'gap' ? 'gap' : `${item.id} ${item.type}`));
bob.join('stadium').subscribe();
cy.join('stadium').subscribe();

// A connection's request is answered after its join: once each has answered, all three are in.
const presence = (fan: typeof ada) => fan.request('presence', { room: 'stadium' }) as Promise<unknown[]>;
await Promise.all([presence(ada), presence(bob)]);
console.log('in the stadium:', (await presence(cy)).length);

console.log('published as', await bob.publishAsync('stadium', 'goal!'));
await cy.leave('stadium');
console.log('published as', await ada.publishAsync('stadium', 'full time'));
console.log('in the stadium:', (await presence(ada)).length);
console.log('ada saw:', seen.join(', '));

await Promise.all([ada.close(), bob.close(), cy.close()]);
await server.close();
