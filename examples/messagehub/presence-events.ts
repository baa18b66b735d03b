import { MessageHub } from '@msghub/messagehub';

// Sessions enter and leave unannounced: the stream carries messages only, with contiguous ids.
const hub = new MessageHub<string>({ chatroomId: 'stadium', presenceEvents: 'none' });

hub.add('ada', 'laptop').subscribe((event) => console.log(event.id, event.type));
hub.add('bob', 'phone').subscribe();
await hub.message('bob', 'goal!');
console.log(await hub.presence()); // everyone who is in, though nobody was announced
await hub.remove('bob', 'phone');
await hub.close(); // 1 message, 2 close
