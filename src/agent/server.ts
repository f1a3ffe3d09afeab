// The one HTTP port: /healthz (the event loop runs), /readyz (loaded, configured, verified; else
// 503 and why), /metrics (Prometheus text).
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface Health {
  /** null: ready; else why not */
  notReady(): string | null;
}

export function startServer(
  port: number,
  health: Health,
  registry: Registry,
  host?: string,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'GET only\n');
    if (path === '/healthz') return send(200, 'ok\n');
    if (path === '/readyz') {
      const why = health.notReady();
      return why === null ? send(200, 'ready\n') : send(503, `not ready: ${why}\n`);
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => send(200, text, registry.contentType),
        (e: Error) => send(500, `metrics: ${e.message}\n`),
      );
      return;
    }
    send(404, 'not found: /healthz, /readyz, /metrics\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(`--metrics-port ${port}: ${e.code ?? e.message}; pick a free port`)),
    );
    server.listen({ port, ...(host !== undefined && { host }) }, () => resolve(server));
  });
}
