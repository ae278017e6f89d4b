// Client input taken in turns: a socket's messages are handled as they arrive, up to a few per event-loop turn and a
// bounded number for all sockets together; past that they wait, the socket stops being read, and they are handled in
// the following turns, sockets in the order they started waiting. A burst of ops from many sessions at once (one
// address opening a hundred) then delays others' traffic by one turn's budget, not by the whole burst, while a
// client's few messages per turn (a publisher with some in flight) still go together.

/** Messages one socket may have handled in one turn before the rest wait for the next. */
const perSocketPerTurn = 16;
/** Messages all sockets together may have handled in one turn: what a burst can delay everyone else by. */
const perTurn = 256;

/**
 * A socket whose messages are taken in turns. Its state lives on the socket's own object (for client WebSockets,
 * edge/client-web-socket.ts): idle sockets are the bulk of an edge, and an object each would cost more.
 */
export interface TurnInput {
  /** The turn in which it last had messages handled, and how many. */
  inputTurn: number;
  inputHandled: number;
  /** Messages waiting for a turn; none (and no array) while nothing waits, as for most sockets most of the time. */
  inputQueue: Array<[Buffer, boolean]> | undefined;
  /** Messages of `inputQueue` already handled. */
  inputHead: number;
  /** Takes its messages, in order. */
  handleInput(data: Buffer, isBinary: boolean): void;
  /** Stop and restart reading the socket. */
  pause(): void;
  resume(): void;
}

export class InputTurns {
  private turn = 0;
  private handledInTurn = 0;
  private nextTurnScheduled = false;
  /** Sockets with messages waiting, in the order they started waiting. */
  private waiting = new Set<TurnInput>();

  /** A message from `input`'s socket: handled now if its turn allows, else queued (and the socket paused). */
  receive(input: TurnInput, data: Buffer, isBinary: boolean): void {
    if (!input.inputQueue && this.take(input)) return input.handleInput(data, isBinary);
    if (!input.inputQueue) {
      input.inputQueue = [];
      input.pause();
      this.waiting.add(input);
    }
    // A paused socket may still deliver what it had read: at most one chunk's worth more.
    input.inputQueue.push([data, isBinary]);
  }

  /** The socket is gone: what waits is dropped. */
  close(input: TurnInput): void {
    input.inputQueue = undefined;
    input.inputHead = 0;
    this.waiting.delete(input);
  }

  /** Whether `input` may handle one more message in this turn (and counts it). */
  private take(input: TurnInput): boolean {
    if (input.inputTurn !== this.turn) {
      input.inputTurn = this.turn;
      input.inputHandled = 0;
    }
    if (input.inputHandled >= perSocketPerTurn || this.handledInTurn >= perTurn) return false;
    input.inputHandled++;
    this.handledInTurn++;
    if (!this.nextTurnScheduled) {
      this.nextTurnScheduled = true;
      setImmediate(this.nextTurn);
    }
    return true;
  }

  /** Handles what it may of `input`'s queue in this turn; reads the socket again once the queue is empty. */
  private drain(input: TurnInput): void {
    const queue = input.inputQueue;
    if (!queue) return;
    // A handler may close the socket (its queue goes): then nothing more of it is handled.
    while (input.inputQueue === queue && input.inputHead < queue.length && this.take(input)) {
      const [data, isBinary] = queue[input.inputHead++]!;
      input.handleInput(data, isBinary);
    }
    if (input.inputQueue !== queue) return;
    if (input.inputHead === queue.length) {
      input.inputQueue = undefined;
      input.inputHead = 0;
      input.resume();
      return;
    }
    // A socket read of many small messages waits over many turns: drop what was handled only now and then, as copying
    // the rest every turn would cost the square of its length.
    if (input.inputHead * 2 >= queue.length) {
      input.inputQueue = queue.slice(input.inputHead);
      input.inputHead = 0;
    }
    this.waiting.add(input);
  }

  private readonly nextTurn = (): void => {
    this.nextTurnScheduled = false;
    this.turn++;
    this.handledInTurn = 0;
    const waiting = this.waiting;
    this.waiting = new Set();
    for (const input of waiting) this.drain(input);
  };
}
