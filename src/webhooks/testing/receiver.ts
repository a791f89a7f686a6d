/** A webhook receiver on loopback for tests: records every request, answers as told, checks signatures with `standardwebhooks`. */

import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
  /** What the receiver did: an HTTP status, or `drop` (closed the connection without an answer). */
  answer: number | 'drop';
}

export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  /** Answers for the next requests, in order (then 204 each): a status, or `drop`. */
  readonly answers: Array<number | 'drop'> = [];

  private constructor(private readonly server: Server) {}

  /** Listens on 127.0.0.1 (on `port`, or a free one). */
  static async start(port = 0): Promise<WebhookReceiver> {
    let receiver: WebhookReceiver | undefined;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        const answer = receiver!.answers.shift() ?? 204;
        receiver!.requests.push({ path: req.url ?? '', headers: req.headers as Record<string, string>, body, answer });
        if (answer === 'drop') req.socket.destroy();
        else res.writeHead(answer).end();
      });
    });
    receiver = new WebhookReceiver(server);
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    return receiver;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Requests to `path`. */
  to(path: string): ReceivedRequest[] {
    return this.requests.filter((request) => request.path === path);
  }

  async waitFor(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received ${JSON.stringify(this.requests.map((r) => [r.path, r.answer]))}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** The payload of a request, after its signature was checked with `secret` by the independent implementation (throws if it does not verify). */
export function verified(request: ReceivedRequest, secret: string): { type: string; timestamp: string; data: any } {
  return new Webhook(secret).verify(request.body, request.headers) as { type: string; timestamp: string; data: any };
}
