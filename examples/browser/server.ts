import { fileURLToPath } from 'node:url';
import { HubServer } from '@msghub/transport';

const server = new HubServer({
  assets: {
    '/msghub.js': fileURLToPath(import.meta.resolve('@msghub/client/browser')),
    '/': fileURLToPath(import.meta.resolve('./index.html')),
  },
  devTokens: true, // development only: POST /dev/token hands out connect tokens
});
const { ws } = await server.listen({ ws: { port: Number(process.env.MSGHUB_WS_PORT ?? 8080), path: '/hub' } });
console.log(`open http://127.0.0.1:${ws?.port}/`);
