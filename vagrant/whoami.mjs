// The backends' HTTP server: answers every request with the peer address of its connection, as
// getpeername() gives it (the client's own with toa.ko, the load balancer's without).
// Usage: node whoami.mjs PORT
import http from 'node:http';

const port = Number(process.argv[2]);
http
  .createServer((req, res) => {
    res.end(`${req.socket.remoteAddress}:${req.socket.remotePort}\n`);
  })
  .listen(port, () => console.log(`whoami on :${port}`));
