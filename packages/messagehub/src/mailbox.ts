import PQueue from 'p-queue';

/**
 * Handles one command. Returns a promise only when the actor must wait before the next command
 * (a listener is full); the common path returns nothing and stays synchronous.
 */
export type CommandHandler = (op: number, a: unknown, b: unknown, c: unknown) => void | Promise<void>;

const RESOLVED: Promise<void> = Promise.resolve();
/** Slots per command in the flat inbox: op, a, b, c. */
const STRIDE = 4;

/**
 * The actor's mailbox: a bounded FIFO of commands with exactly one drain loop, run as a p-queue
 * task (concurrency 1). A p-queue turn per command costs ~50x the limit, so each turn swaps out
 * the whole inbox and handles it as one batch, then looks again before giving the turn back.
 *
 * Commands are stored flat (`op, a, b, c`) so posting one allocates nothing. When the inbox is
 * full, `post` parks the command with a pending promise and admits it, still in order, as soon as
 * a batch is taken out: callers that await are slowed, callers that don't lose nothing.
 */
export class Mailbox {
  readonly #capacity: number;
  readonly #handler: CommandHandler;
  readonly #onBatch: () => void;
  readonly #onBatchEnd: () => void | Promise<void>;
  readonly #onFault: (error: unknown) => void;
  readonly #queue = new PQueue({ concurrency: 1 });
  /**
   * Two buffers swapped per batch. They grow to the largest batch seen (at most the capacity) and
   * never shrink, so a busy room stops reallocating while an idle one stays small.
   */
  #inbox: unknown[] = [];
  #inboxLength = 0;
  #spare: unknown[] = [];
  /** Parked commands: op, a, b, c, resolve; consumed from `#parkedHead`. */
  #parked: unknown[] = [];
  #parkedHead = 0;
  #draining = false;
  /** What the command just handled asks the loop to wait for. */
  #wait: Promise<void> | undefined;

  /**
   * @param capacity commands the inbox holds before callers are asked to wait
   * @param handler runs each command, in order, inside the drain loop
   * @param onBatch runs before each batch (the hub reads its clock there)
   * @param onBatchEnd runs after each batch and is awaited before the next (the hub commits there)
   * @param onFault receives anything the handler throws; the loop goes on
   */
  constructor(
    capacity: number,
    handler: CommandHandler,
    onBatch: () => void,
    onBatchEnd: () => void | Promise<void>,
    onFault: (error: unknown) => void,
  ) {
    this.#capacity = capacity * STRIDE;
    this.#handler = handler;
    this.#onBatch = onBatch;
    this.#onBatchEnd = onBatchEnd;
    this.#onFault = onFault;
  }

  /** Commands accepted and not yet taken by the drain loop. */
  get size(): number {
    return this.#inboxLength / STRIDE;
  }

  /** Commands waiting for room (their callers hold pending promises). */
  get parked(): number {
    return (this.#parked.length - this.#parkedHead) / 5;
  }

  /**
   * Queues a command. Resolves once the command is in the mailbox: at once while there is
   * room, later (in order) when the inbox is full.
   */
  post(op: number, a?: unknown, b?: unknown, c?: unknown): Promise<void> {
    const at = this.#inboxLength;
    if (at < this.#capacity && this.#parkedHead === this.#parked.length) {
      const inbox = this.#inbox;
      inbox[at] = op;
      inbox[at + 1] = a;
      inbox[at + 2] = b;
      inbox[at + 3] = c;
      this.#inboxLength = at + STRIDE;
      if (!this.#draining) this.#start();
      return RESOLVED;
    }
    return this.#park(op, a, b, c);
  }

  /** A function of its own: a closure in `post` would cost every call a context allocation. */
  #park(op: number, a: unknown, b: unknown, c: unknown): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#parked.push(op, a, b, c, resolve);
      if (!this.#draining) this.#start();
    });
  }

  /**
   * Queues a command now, past the capacity and ahead of parked commands if need be: for what must
   * never wait behind the commands that cause more of it (events a store has committed already).
   */
  postNow(op: number, a?: unknown, b?: unknown, c?: unknown): void {
    const at = this.#inboxLength;
    const inbox = this.#inbox;
    inbox[at] = op;
    inbox[at + 1] = a;
    inbox[at + 2] = b;
    inbox[at + 3] = c;
    this.#inboxLength = at + STRIDE;
    if (!this.#draining) this.#start();
  }

  #start(): void {
    this.#draining = true;
    void this.#queue.add(() => this.#drain());
  }

  /** The drain loop: a method, not a closure per mailbox, so that its optimised code is shared. */
  async #drain(): Promise<void> {
    // Let the caller's synchronous run post its commands so that this turn takes them together.
    await undefined;
    for (;;) {
      const batch = this.#inbox;
      const length = this.#inboxLength;
      if (length === 0) {
        if (this.#parkedHead < this.#parked.length) {
          this.#admitParked();
          continue;
        }
        // One more look before giving the turn back: a caller awaiting each post is one tick behind.
        await undefined;
        if (this.#inboxLength === 0 && this.#parkedHead === this.#parked.length) break;
        continue;
      }
      this.#inbox = this.#spare;
      this.#inboxLength = 0;
      this.#admitParked();
      try {
        this.#onBatch();
      } catch (error) {
        this.#onFault(error);
      }
      for (let i = 0; i < length; ) {
        i = this.#handleFrom(batch, i, length);
        const wait = this.#wait;
        if (wait === undefined) continue;
        this.#wait = undefined;
        try {
          await wait;
        } catch (error) {
          this.#onFault(error);
        }
      }
      this.#spare = batch;
      try {
        const wait = this.#onBatchEnd();
        if (wait !== undefined) await wait;
      } catch (error) {
        this.#onFault(error);
      }
    }
    this.#draining = false;
  }

  /**
   * Handles the batch's commands from `start` in a plain loop (no await per command). Stops after
   * a command that returns a promise, leaving it in `#wait`; returns where to go on.
   */
  #handleFrom(batch: unknown[], start: number, length: number): number {
    const handler = this.#handler;
    for (let i = start; i < length; i += STRIDE) {
      const a = batch[i + 1];
      const b = batch[i + 2];
      const c = batch[i + 3];
      // Drop the references as they are taken, so handled payloads can be collected; the buffer
      // is kept. The op is a small integer and holds nothing.
      batch[i + 1] = undefined;
      batch[i + 2] = undefined;
      batch[i + 3] = undefined;
      let wait: void | Promise<void>;
      try {
        wait = handler(batch[i] as number, a, b, c);
      } catch (error) {
        this.#onFault(error);
        continue;
      }
      if (wait !== undefined) {
        this.#wait = wait;
        return i + STRIDE;
      }
    }
    return length;
  }

  /** Moves parked commands into the inbox, oldest first, while it has room. */
  #admitParked(): void {
    const parked = this.#parked;
    let head = this.#parkedHead;
    const inbox = this.#inbox;
    let at = this.#inboxLength;
    while (head < parked.length && at < this.#capacity) {
      inbox[at] = parked[head];
      inbox[at + 1] = parked[head + 1];
      inbox[at + 2] = parked[head + 2];
      inbox[at + 3] = parked[head + 3];
      at += STRIDE;
      (parked[head + 4] as () => void)();
      head += 5;
    }
    this.#inboxLength = at;
    if (head === parked.length) {
      parked.length = 0;
      head = 0;
    } else if (head > 4096 && head * 2 > parked.length) {
      parked.splice(0, head);
      head = 0;
    }
    this.#parkedHead = head;
  }
}
