import http from 'node:http';
import { originalPeer } from 'tcp-toa/binding';

http
  .createServer((req, res) => {
    const peer = originalPeer(req.socket);
    res.end(`you are ${peer?.address}\n`);
  })
  .listen(Number(process.env.PORT) || 8080);
