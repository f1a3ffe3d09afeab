import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { type Endpoint, originalPeer } from 'tcp-toa/binding';

export type ClientRequest = IncomingMessage & { clientAddress?: string; loadBalancer?: Endpoint };

/** Any (req, res, next) framework: app.use(clientAddress). */
export function clientAddress(req: ClientRequest, _res: ServerResponse, next: () => void): void {
  const peer = originalPeer(req.socket);
  req.clientAddress = peer?.address;
  req.loadBalancer = peer?.via === 'toa' ? peer.lb : undefined;
  next();
}

// The smallest app.use(), to run it without a framework:
http
  .createServer((req: ClientRequest, res) => {
    clientAddress(req, res, () =>
      res.end(`you are ${req.clientAddress} (lb ${req.loadBalancer?.address ?? '-'})\n`),
    );
  })
  .listen(Number(process.env.PORT) || 8080);
