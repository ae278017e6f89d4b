// Types for the part of irc-framework (a client that ships none) that the IRC tunnel tests use.

declare module 'irc-framework' {
  /** What irc-framework asks of a transport: one per connection, made with the connect options. */
  export interface Transport {
    connect(): void;
    isConnected(): boolean;
    writeLine(line: string, callback?: () => void): void;
    close(force?: boolean): void;
    disposeSocket(): void;
    setEncoding(encoding: string): boolean;
    on(event: string, listener: (...args: unknown[]) => void): unknown;
    removeAllListeners(): unknown;
  }

  export interface ConnectOptions {
    host?: string;
    port?: number;
    nick: string;
    username?: string;
    gecos?: string;
    auto_reconnect?: boolean;
    /** Seconds between the client's PINGs; 0 turns them off. */
    ping_interval?: number;
    ping_timeout?: number;
    transport?: new (options: ConnectOptions) => Transport;
  }

  export interface MessageEvent {
    type: 'privmsg' | 'notice' | 'action';
    nick: string;
    target: string;
    message: string;
  }

  export interface JoinEvent {
    nick: string;
    channel: string;
  }

  export interface QuitEvent {
    nick: string;
    message: string;
  }

  export class Client {
    constructor();
    readonly connected: boolean;
    connect(options: ConnectOptions): void;
    join(channel: string, key?: string): void;
    say(target: string, message: string): void;
    quit(message?: string): void;
    on(event: 'registered', listener: (event: { nick: string }) => void): this;
    on(event: 'message', listener: (event: MessageEvent) => void): this;
    on(event: 'join', listener: (event: JoinEvent) => void): this;
    on(event: 'quit', listener: (event: QuitEvent) => void): this;
    /** The connection is gone (true: after an error), for good when auto_reconnect is off. */
    on(event: 'close', listener: (error: boolean) => void): this;
  }
}
