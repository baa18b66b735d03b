import { MessageHub } from '@msghub/messagehub';
import { DataLog, readLog, replay } from '@msghub/datalog';

const log = new DataLog({ file: 'events.log', fsync: 'batch' });
log.errors.subscribe((error) => console.warn('event log:', error.message));

// Continue at the next id with the history the room had (an empty seed on the first start).
const seed = await replay('events.log', { room: 'lobby' });
const hub = new MessageHub({ chatroomId: 'lobby', seed });
log.attach(hub);            // throws LogOpenError at once if events.log cannot be opened
await hub.message('ada', 'hello');
await hub.close();          // resolves once every event of the room is in events.log

for await (const event of readLog('events.log', { room: 'lobby', since: seed.lastEventId })) console.log(event.id, event.type);
await log.close();
