/**
 * Static assets served by the server's own HTTP listener (the WebSocket port): the client's
 * browser bundle at `/msghub.js`, a demo page, ... A source is a file path (read on each request,
 * so a rebuilt bundle is served without a restart), the bytes themselves, or either with an
 * explicit content type.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname } from 'node:path';

/** A file path, the contents, or `{ body | path, contentType }`. */
export type AssetSource =
  | string
  | Uint8Array
  | { readonly body: string | Uint8Array; readonly contentType?: string }
  | { readonly path: string; readonly contentType?: string };

const contentTypes: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
};

/** The content type for a URL path or file name, by extension. */
export function contentTypeOf(name: string): string {
  return contentTypes[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

type AssetHandler = (request: IncomingMessage, response: ServerResponse) => boolean;

/**
 * Builds a request handler for `assets` (URL path → source). It answers GET and HEAD for a known
 * path and returns true, or returns false and leaves the response alone.
 */
export function createAssetHandler(assets: Readonly<Record<string, AssetSource>>): AssetHandler {
  const table = new Map(Object.entries(assets));
  return (request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const source = table.get(path);
    if (source === undefined || (request.method !== 'GET' && request.method !== 'HEAD')) return false;
    void serve(source, path, request.method === 'HEAD', response);
    return true;
  };
}

async function serve(source: AssetSource, path: string, head: boolean, response: ServerResponse): Promise<void> {
  let body: string | Uint8Array;
  // A URL without an extension (`/`, `/chat`) takes the served file's type.
  const file = typeof source === 'string' ? source : 'path' in source ? source.path : path;
  let type = contentTypeOf(extname(path) === '' ? file : path);
  try {
    if (typeof source === 'string') body = await readFile(source);
    else if (source instanceof Uint8Array) body = source;
    else if ('body' in source) body = source.body;
    else body = await readFile(source.path);
    if (typeof source === 'object' && !(source instanceof Uint8Array) && source.contentType !== undefined) {
      type = source.contentType;
    }
  } catch {
    response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found\n');
    return;
  }
  response.writeHead(200, {
    'content-type': type,
    'content-length': typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength,
    'cache-control': 'no-cache',
  });
  response.end(head ? undefined : body);
}
