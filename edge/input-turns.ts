// Client input taken in turns: a socket's messages are handled as they arrive, up to a few per event-loop turn and a
// bounded number for all sockets together; past that they wait, the socket stops being read, and they are handled in
// the following turns, sockets in the order they started waiting. A burst of ops from many sessions at once (one
// address opening a hundred) then delays others' traffic by one turn's budget, not by the whole burst, while a
// client's few messages per turn (a publisher with some in flight) still go together.

/** Messages one socket may have handled in one turn before the rest wait for the next. */
const perSocketPerTurn = 16;
/** Messages all sockets together may have handled in one turn: what a burst can delay everyone else by. */
const perTurn = 256;

/** Who takes a socket's messages, in order. */
export interface InputHandler {
  handleInput(data: Buffer, isBinary: boolean): void;
}

export class InputTurns {
  private turn = 0;
  private handledInTurn = 0;
  private nextTurnScheduled = false;
  /** Sockets with messages waiting, in the order they started waiting. */
  private waiting = new Set<SocketInput>();

  /** The input of one socket: `handler` takes its messages in order; `pause`/`resume` stop and restart reading it. */
  socket(handler: InputHandler, flow: { pause(): void; resume(): void }): SocketInput {
    return new SocketInput(this, handler, flow);
  }

  /** Whether `input` may handle one more message in this turn (and counts it). */
  take(input: SocketInput): boolean {
    if (input.turn !== this.turn) {
      input.turn = this.turn;
      input.handledInTurn = 0;
    }
    if (input.handledInTurn >= perSocketPerTurn || this.handledInTurn >= perTurn) return false;
    input.handledInTurn++;
    this.handledInTurn++;
    if (!this.nextTurnScheduled) {
      this.nextTurnScheduled = true;
      setImmediate(this.nextTurn);
    }
    return true;
  }

  wait(input: SocketInput): void {
    this.waiting.add(input);
  }

  forget(input: SocketInput): void {
    this.waiting.delete(input);
  }

  private readonly nextTurn = (): void => {
    this.nextTurnScheduled = false;
    this.turn++;
    this.handledInTurn = 0;
    const waiting = this.waiting;
    this.waiting = new Set();
    for (const input of waiting) input.drain();
  };
}

export class SocketInput {
  turn = -1;
  handledInTurn = 0;
  /** Messages waiting for a turn; none (and no array) while nothing waits, as for most sockets most of the time. */
  private queue: Array<[Buffer, boolean]> | undefined;
  /** Messages of `queue` already handled. */
  private head = 0;

  constructor(
    private readonly turns: InputTurns,
    private readonly handler: InputHandler,
    private readonly flow: { pause(): void; resume(): void },
  ) {}

  receive(data: Buffer, isBinary: boolean): void {
    if (!this.queue && this.turns.take(this)) return this.handler.handleInput(data, isBinary);
    if (!this.queue) {
      this.queue = [];
      this.flow.pause();
      this.turns.wait(this);
    }
    // A paused socket may still deliver what it had read: at most one chunk's worth more.
    this.queue.push([data, isBinary]);
  }

  /** Handles what it may of its queue in this turn; reads the socket again once the queue is empty. */
  drain(): void {
    const queue = this.queue;
    if (!queue) return;
    // A handler may close the socket (its queue goes): then nothing more of it is handled.
    while (this.queue === queue && this.head < queue.length && this.turns.take(this)) {
      const [data, isBinary] = queue[this.head++]!;
      this.handler.handleInput(data, isBinary);
    }
    if (this.queue !== queue) return;
    if (this.head === queue.length) {
      this.queue = undefined;
      this.head = 0;
      this.flow.resume();
      return;
    }
    // A socket read of many small messages waits over many turns: drop what was handled only now and then, as copying
    // the rest every turn would cost the square of its length.
    if (this.head * 2 >= queue.length) {
      this.queue = queue.slice(this.head);
      this.head = 0;
    }
    this.turns.wait(this);
  }

  /** The socket is gone: what waits is dropped. */
  close(): void {
    this.queue = undefined;
    this.head = 0;
    this.turns.forget(this);
  }
}
