import { MessageHub } from '@msghub/messagehub';

const hub = new MessageHub<string>({ chatroomId: 'lobby' });

hub.add('ada', 'laptop').subscribe((event) => console.log(event.id, event.type));
await hub.message('ada', 'hello');
await hub.close(); // 1 join, 2 message, 3 close
