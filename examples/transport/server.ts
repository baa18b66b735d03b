import { HubServer } from '@msghub/transport';

const server = new HubServer({ trustClientUser: true });
const { ws, tcp } = await server.listen({
  ws: { port: Number(process.env.MSGHUB_WS_PORT ?? 8080) },
  tcp: { port: Number(process.env.MSGHUB_TCP_PORT ?? 8081) },
});
server.handle('time', () => Date.now());
process.on('SIGTERM', () => void server.close());
console.log(`ws://127.0.0.1:${ws?.port} tcp://127.0.0.1:${tcp?.port}`);
