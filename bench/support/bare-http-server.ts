/**
 * The liveness bench's baseline: a bare node:http server answering every request with the same
 * JSON as GET /health/live, with the content type given in CONTENT_TYPE. Listens on
 * 127.0.0.1:PORT (0: any free port) and prints `listening <port>` once ready; SIGTERM stops it.
 */
import { createServer } from 'node:http';

const body = Buffer.from(process.env.BODY ?? '{"status":"ok"}');
const contentType = process.env.CONTENT_TYPE ?? 'application/json; charset=utf-8';

const server = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': contentType, 'content-length': body.length });
  response.end(body);
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening ${typeof address === 'object' && address ? address.port : ''}`);
});

process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
