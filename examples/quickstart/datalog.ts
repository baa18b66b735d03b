import { MessageHub } from '@msghub/messagehub';
import { FileStore } from '@msghub/datalog';

// Every event is in events.log (and synced) before anyone sees it; a restart goes on where it stopped.
const store = new FileStore({ file: 'events.log', fsync: 'batch' });
const hub = new MessageHub({ chatroomId: 'lobby', store });

const id = await hub.publish('hello', { from: 'ada' }); // resolves once it is on disk
console.log(`published as event ${id}`);
await hub.close();
await store.close();
