import { HubServer } from '@msghub/transport';

// devTokens: POST /dev/token hands out connect tokens to anyone, so development only.
const server = new HubServer({ devTokens: true }); // every option and its default: docs/transport.md
const { ws, tcp } = await server.listen({
  ws: { port: Number(process.env.MSGHUB_WS_PORT ?? 8080) },
  tcp: { port: Number(process.env.MSGHUB_TCP_PORT ?? 8081) },
});
console.log(`listening on ws://127.0.0.1:${ws?.port} and tcp://127.0.0.1:${tcp?.port}`);
// In production, your login endpoint hands out the single-use connect tokens (32 random bytes,
// valid 30 s): res.json({ token: server.tokens.issue(user.id) })
process.once('SIGINT', () => void server.close()); // bye to every client, rooms closed, then exit
