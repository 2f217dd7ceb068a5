/**
 * An HTTP proxy on loopback in front of the service, for agent runs pointed at it with
 * API_BASE_URL. It passes requests through; for one it was told to hold, it forwards the request
 * (the service executes it) and then keeps the answer back, as a slow network would: the run's
 * call is in flight after the work is done.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Hold {
  method: string;
  path: string;
  executed: () => void;
}

export class HoldingProxy {
  /** Where requests go (the service); set once it listens. */
  target = '';
  url = '';
  private server: Server | null = null;
  private readonly holds: Hold[] = [];
  private readonly held = new Set<ServerResponse>();

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Holds back the answer to the next `method path` request; resolves once the service has answered it. */
  holdNext(method: string, path: string): Promise<void> {
    return new Promise((executed) => this.holds.push({ method, path, executed }));
  }

  async close(): Promise<void> {
    for (const res of this.held) res.destroy();
    const server = this.server;
    this.server = null;
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => name !== 'host' && name !== 'connection' && name !== 'content-length')) as Record<string, string>;
    const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
    const answer = await fetch(this.target + req.url, { method: req.method, headers, body });
    const bytes = Buffer.from(await answer.arrayBuffer());
    const path = (req.url ?? '').split('?')[0];
    const index = this.holds.findIndex((hold) => hold.method === req.method && hold.path === path);
    if (index >= 0) {
      const [hold] = this.holds.splice(index, 1);
      this.held.add(res);
      res.once('close', () => this.held.delete(res));
      hold.executed();
      return;
    }
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/octet-stream' });
    res.end(bytes);
  }
}

export function startHoldingProxy(): Promise<HoldingProxy> {
  return new HoldingProxy().start();
}
