import { ClusterPresence, ClusterSignals, RedisOfflineQueue, RedisStore } from '@msghub/cluster';
import { HubServer, type DirectFrame } from '@msghub/transport';

const redis = process.env['MSGHUB_REDIS'] ?? 'redis://127.0.0.1:6379';

/** One node of the cluster: a server whose rooms, presence and direct messages live in Redis. */
async function startNode(): Promise<{ server: HubServer; close(): Promise<void> }> {
  const store = new RedisStore({ redis });
  const presence = new ClusterPresence(store, { singleSession: true });
  const server = new HubServer({
    store,
    singleSession: true,
    offlineQueue: new RedisOfflineQueue<DirectFrame>(store),
    signalBus: new ClusterSignals(store), // typing indicators and the like reach every node
    onConnect: presence.onConnect,
    onDisconnect: presence.onDisconnect,
  });
  await presence.attach(server); // `online`, `presence`, kicks and single sign-on across nodes
  await server.listen({ ws: { port: 0 } });
  return { server, close: async () => (await server.close(), presence.close(), await store.close()) };
}

const [a, b] = await Promise.all([startNode(), startNode()]);
// ada is in the lobby on node A; bob publishes on node B: one room, one sequence of ids.
const onA = a.server.rooms.create('lobby');
const seen = new Promise<void>((resolve) => {
  onA.add('ada', 'tab-1').subscribe((event) => {
    const detail = event.type === 'message' ? `${event.userId}: ${String(event.message)}` : event.type === 'close' ? '' : event.userId;
    console.log(`node A saw ${event.id} ${event.type} ${detail}`.trimEnd());
    if (event.type === 'message') resolve();
  });
});
await onA.presence(); // ada's join is in Redis
const id = await b.server.rooms.create('lobby').publish('hello from B', { from: 'bob' });
await seen;
console.log('node B published it as', id);
await Promise.all([a.close(), b.close()]);
