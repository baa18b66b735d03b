/**
 * `GET /metrics` on the server's HTTP listener: the Prometheus text format. With a token, a request
 * must carry `Authorization: Bearer <token>` (else 401). Without one the server listens on loopback
 * only ({@link Observability.checkListen}): metrics name rooms and reveal load, so they leave the
 * machine only behind a token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { bearerToken, SecretToken } from './http-auth.js';
import { pathOf, reply, replyJson } from './http-io.js';
import type { PrometheusMetrics } from './prometheus.js';

/** The URL path of the endpoint. */
export const METRICS_PATH = '/metrics';

type HttpHandler = (request: IncomingMessage, response: ServerResponse) => boolean;

/** Builds the handler for {@link METRICS_PATH}; it returns false for other paths. */
export function createMetricsHandler(metrics: PrometheusMetrics, token: string | undefined, onError: (error: unknown) => void): HttpHandler {
  const secret = token === undefined ? undefined : new SecretToken(token);
  return (request, response) => {
    if (pathOf(request) !== METRICS_PATH) return false;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      replyJson(response, 405, { error: 'Use GET' }, { allow: 'GET, HEAD' });
    } else if (secret !== undefined && !secret.matches(bearerToken(request))) {
      replyJson(response, 401, { error: 'Missing or wrong bearer token' }, { 'www-authenticate': 'Bearer realm="msghub metrics"' });
    } else {
      metrics.text().then(
        (text) => reply(response, 200, metrics.contentType, text),
        (error: unknown) => {
          onError(error);
          replyJson(response, 500, { error: 'Collecting the metrics failed' });
        },
      );
    }
    return true;
  };
}
