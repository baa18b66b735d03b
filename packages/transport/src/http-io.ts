/** Small pieces of the HTTP endpoints on the server's listener: paths, bodies, answers. */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The URL path of a request, without its query. */
export function pathOf(request: IncomingMessage): string {
  const url = request.url ?? '/';
  const at = url.indexOf('?');
  return at < 0 ? url : url.slice(0, at);
}

/** Ends a response with a body and headers that keep it out of caches. */
export function reply(response: ServerResponse, status: number, contentType: string, body: string | Uint8Array, headers: Record<string, string> = {}): void {
  if (response.headersSent) return;
  response
    .writeHead(status, {
      ...headers,
      'content-type': contentType,
      'content-length': typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength,
      'cache-control': 'no-store',
    })
    .end(body);
}

/** Ends a response with a JSON body. */
export function replyJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  reply(response, status, 'application/json; charset=utf-8', JSON.stringify(body), headers);
}

/**
 * Reads a request body of at most `maxBytes`, then calls `then` with its text. A larger body gets
 * 413 and the request is dropped.
 */
export function readBody(request: IncomingMessage, response: ServerResponse, maxBytes: number, then: (body: string) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  request.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxBytes) {
      replyJson(response, 413, { error: `Body over ${maxBytes} bytes` }, { connection: 'close' });
      request.destroy();
    } else {
      chunks.push(chunk);
    }
  });
  request.on('end', () => {
    if (size <= maxBytes) then(Buffer.concat(chunks).toString('utf8'));
  });
  request.on('error', () => response.destroy());
}
