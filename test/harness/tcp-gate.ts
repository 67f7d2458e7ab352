// A TCP relay on loopback whose two directions a test can hold, to stop a process at a known point of a
// conversation (an API's start of a workflow, an S3 put): what is held is counted and never delivered, as
// a process killed with its request in flight leaves it.
import net from 'node:net';
import { freePort } from '../../stack/ports.ts';
import { eventually } from './api.ts';

export interface TcpGate {
  port: number;
  /** `127.0.0.1:<port>`, for settings that take host and port (TEMPORAL_ADDRESS). */
  address: string;
  /** From now on, what clients send is held back. */
  holdRequests(): void;
  /** From now on, what the server answers is held back. */
  holdResponses(): void;
  /**
   * Delivers again. Connections that swallowed bytes are out of step with their protocol: they are
   * closed, and clients open new ones.
   */
  release(): void;
  /** Bytes held back since a hold began. */
  heldBytes(): number;
  /** Resolves once something is held back (the client sent, or was sent, what the test waits for). */
  heldSomething(what: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Opens a gate in front of `upstream`; nothing is held until the test says so. */
export async function openTcpGate(upstream: { host: string; port: number }): Promise<TcpGate> {
  let requestsHeld = false;
  let responsesHeld = false;
  let held = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((downstream) => {
    const onward = net.connect(upstream);
    const end = () => {
      downstream.destroy();
      onward.destroy();
    };
    for (const socket of [downstream, onward]) {
      sockets.add(socket);
      socket.on('close', () => {
        sockets.delete(socket);
        end();
      });
      socket.on('error', end);
    }
    downstream.on('data', (chunk: Buffer) => {
      if (requestsHeld) held += chunk.length;
      else onward.write(chunk);
    });
    onward.on('data', (chunk: Buffer) => {
      if (responsesHeld) held += chunk.length;
      else downstream.write(chunk);
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const destroyAll = () => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    port,
    address: `127.0.0.1:${port}`,
    holdRequests: () => {
      requestsHeld = true;
      held = 0;
    },
    holdResponses: () => {
      responsesHeld = true;
      held = 0;
    },
    release: () => {
      requestsHeld = false;
      responsesHeld = false;
      destroyAll();
    },
    heldBytes: () => held,
    heldSomething: async (what, timeoutMs = 60_000) => {
      await eventually(() => Promise.resolve(held > 0 ? true : undefined), timeoutMs, what);
    },
    close: async () => {
      destroyAll();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
