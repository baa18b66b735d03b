import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileOfflineQueue, HubServer } from '@msghub/transport';

const dir = mkdtempSync(join(tmpdir(), 'msghub-queue-'));
const offlineQueue = await FileOfflineQueue.open(join(dir, 'events.log.offline'), { maxPerUser: 100 });
const server = new HubServer({ offlineQueue });
await server.listen({ ws: { port: 0 } });
// shutting down: first the server, then the queue
await server.close();
await offlineQueue.close();
console.log('closed');
