// The NATS publisher's connection: the NATS client protocol over TCP to a server's client port (the hub's), opened by
// hand (the server's INFO, then CONNECT and a PING whose PONG says the server has read it), then text written as given.

import { connect, type Socket } from 'node:net';
import { NatsStream } from './nats-stream.js';
import { natsConnect } from './wires.js';

export class NatsTcpClient {
  private constructor(private readonly socket: Socket) {}

  /** `url`: nats://host:port. */
  static connect(url: string, timeoutMs = 10_000): Promise<NatsTcpClient> {
    const target = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: target.hostname, port: Number(target.port) });
      socket.setNoDelay(true);
      const stream = new NatsStream((text) => socket.write(text));
      const fail = (error: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(error);
      };
      const timer = setTimeout(() => fail(new Error(`${url}: no PONG within ${timeoutMs} ms`)), timeoutMs);
      let greeted = false;
      stream.onLine = (line) => {
        if (line.startsWith('INFO ') && !greeted) {
          greeted = true;
          socket.write(`${natsConnect}PING\r\n`);
        } else if (line.startsWith('-ERR')) fail(new Error(`${url}: ${line}`));
        else if (line === 'PONG') {
          clearTimeout(timer);
          socket.off('error', fail);
          // Later, an error would show only as deliveries that never come: say why.
          stream.onLine = (later) => {
            if (later.startsWith('-ERR')) process.stderr.write(`nats publisher: ${later}\n`);
          };
          socket.on('error', (error) => process.stderr.write(`nats publisher: ${error.message}\n`));
          resolve(new NatsTcpClient(socket));
        }
      };
      socket.on('data', (chunk: Buffer) => stream.push(chunk));
      socket.once('error', fail);
    });
  }

  sendText(text: string): void {
    this.socket.write(text);
  }

  close(): void {
    this.socket.destroy();
  }
}
