import { MessageHub } from '@msghub/messagehub';
import { FileStore, readLog } from '@msghub/datalog';

const store = new FileStore({ file: 'events.log' });        // fsync 'batch' by default
const hub = new MessageHub({ chatroomId: 'lobby', store });  // goes on where the room stopped
const id = await hub.publish('hello', { from: 'ada' });      // in the file and synced before it resolves
await hub.close();
await store.close();

for await (const event of readLog('events.log', { room: 'lobby', since: id - 1 })) console.log(event.id, event.type);
