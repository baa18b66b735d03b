import { MessageHub } from '@msghub/messagehub';

const hub = new MessageHub({ chatroomId: 'lobby' });

const counts = new Map<string, number>();
hub.attachListener((event) => void counts.set(event.type, (counts.get(event.type) ?? 0) + 1)); // every event, in order, `close` included
hub.add('ada', 'laptop').subscribe((event) => console.log('laptop', event.id, event.type));

await hub.message('ada', 'hello, room');
await hub.whisper('ada', 'grace', 'psst');          // only grace's and ada's sessions see it
console.log(await hub.presence());                    // [ { userId: 'ada', sessions: 1 } ]
hub.add('ada', 'phone', { since: 2 }).subscribe((event) => console.log('phone', event.type)); // resume: replay after id 2, then live

await hub.close(); // `close` reaches everyone, streams complete, listeners are flushed
console.log(counts); // Map(4) { 'join' => 1, 'message' => 2, 'add' => 1, 'close' => 1 }
