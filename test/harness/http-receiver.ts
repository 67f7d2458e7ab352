// A real HTTP server on 127.0.0.1 for the notification tests: records every request (method, path, headers,
// body) and answers as the test says: a status, a function of the request, or not at all (a hung receiver).
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  /** Path and query, as the request line had them. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The body as UTF-8 text, and the exact bytes (what a signature covers). */
  body: string;
  raw: Buffer;
  /** The status it was answered with; undefined while it hangs. */
  status?: number;
}

export interface Answer {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

/** How the receiver answers a request; 'hang' holds it open until the client gives up or the receiver closes. */
export type Responder = (request: ReceivedRequest) => Answer | 'hang';

export interface HttpReceiver {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  port: number;
  /** Every request received since the start or the last `reset()`, oldest first. */
  readonly requests: ReceivedRequest[];
  /** The requests answered with a 2xx status: what a real receiver would have acted on. */
  accepted(): ReceivedRequest[];
  /** Answers every request from now on with `status` (and `body`). */
  answer(status: number, body?: string, headers?: Record<string, string>): void;
  respondWith(responder: Responder): void;
  /** Forgets the requests and answers 200 again. */
  reset(): void;
  close(): Promise<void>;
}

/** Bodies larger than this are cut off with 413: a test receiver has no reason to hold more. */
const maxBodyBytes = 1024 * 1024;

export async function startHttpReceiver(
  responder: Responder = () => ({ status: 200 }),
): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  let respond = responder;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBodyBytes) chunks.push(chunk);
    });
    request.on('end', () => {
      if (size > maxBodyBytes) {
        response.writeHead(413).end();
        return;
      }
      const raw = Buffer.concat(chunks);
      const received: ReceivedRequest = {
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body: raw.toString('utf8'),
        raw,
      };
      requests.push(received);
      const answer = respond(received);
      if (answer === 'hang') return;
      received.status = answer.status;
      response.writeHead(answer.status, answer.headers).end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    accepted: () => requests.filter((request) => request.status !== undefined && request.status < 300),
    answer(status, body, headers) {
      respond = () => ({ status, ...(body === undefined ? {} : { body }), ...(headers ? { headers } : {}) });
    },
    respondWith(next) {
      respond = next;
    },
    reset() {
      requests.splice(0);
      respond = responder;
    },
    async close() {
      // Hung requests never end by themselves: their connections go first.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
