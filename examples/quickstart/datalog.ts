import { MessageHub } from '@msghub/messagehub';
import { DataLog, replay } from '@msghub/datalog';

const seed = await replay('events.log', { room: 'lobby' }); // last id + history (none on the first run)
const hub = new MessageHub({ chatroomId: 'lobby', seed });  // goes on at the next id
new DataLog({ file: 'events.log', fsync: 'batch' }).attach(hub);
console.log(`lobby goes on after event ${seed.lastEventId}`);

await hub.message('ada', `hello after event ${seed.lastEventId}`);
await hub.close(); // resolves once every event of the room is in events.log
