import { HubServer } from '@msghub/transport';

// /metrics and /admin on the WebSocket port. The tokens come from the environment: a token in a
// flag shows in `ps`, one in the code ends up in the repository. Each has at least 16 characters.
const server = new HubServer({
  trustClientUser: true,
  metrics: { token: process.env.MSGHUB_METRICS_TOKEN, perRoom: 10 }, // Authorization: Bearer <token>
  admin: { token: process.env.MSGHUB_ADMIN_TOKEN ?? '' },             // a TypeError at start when unset
});
const { ws } = await server.listen({
  ws: { host: process.env.MSGHUB_HOST ?? '127.0.0.1', port: Number(process.env.MSGHUB_WS_PORT ?? 8080) },
});
console.log(`metrics at http://127.0.0.1:${ws?.port}/metrics, admin view at http://127.0.0.1:${ws?.port}/admin`);
process.once('SIGTERM', () => void server.close());
