import net from 'node:net';
import { originalPeer } from 'tcp-toa/binding';

net
  .createServer((socket) => {
    const peer = originalPeer(socket);
    console.log(`client ${peer?.address}:${peer?.port} via ${peer?.via} (lb ${peer?.lb?.address ?? '-'})`);
    socket.end('hello\n');
  })
  .listen(Number(process.env.PORT) || 8080);
