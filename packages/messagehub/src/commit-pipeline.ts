/** How many batches a room appends ahead of the one it is delivering. */
export const PIPELINE_DEPTH = 4;

const APPENDING = 0;
const APPENDED = 1;
const FAILED = 2;

/** One drained batch of a room with a store: appended (or being appended), not yet delivered. */
export interface CommitBatch {
  /** Its effects, flat (the hub's FX_* records), and their length. */
  readonly fx: unknown[];
  readonly length: number;
  /** The id of its last event, and how many events it holds. */
  readonly last: number;
  readonly count: number;
  /** APPENDING, APPENDED or FAILED. */
  state: number;
  error: unknown;
}

/**
 * The store commit path of a room that keeps its own sequence: batch N+1 is appended while batch N
 * waits for its `append` or is being delivered, so the store's write (and sync) overlaps the room's
 * fan-out, and several batches can share one write.
 *
 * - Appends are issued in batch order (the caller calls {@link add} in order; the store queues them).
 * - A batch is delivered only after its own append resolved and every earlier batch was delivered:
 *   strictly in id order, and nothing before it is committed.
 * - At most {@link PIPELINE_DEPTH} batches are in flight; `add` returns a promise the mailbox waits on
 *   when the pipeline is full.
 * - When an append fails, the batches before it are delivered, and that one with every later one is
 *   handed to `fail` (none of them is delivered; a store refuses appends after a failed one).
 */
export class CommitPipeline {
  readonly #depth: number;
  readonly #deliver: (batch: CommitBatch) => void | Promise<void>;
  readonly #fail: (error: unknown, batches: CommitBatch[]) => void;
  #queue: CommitBatch[] = [];
  #head = 0;
  /** A batch's delivery is waiting (a full listener, the close's flush). */
  #busy = false;
  /** The mailbox waiting for room in the pipeline. */
  #space: (() => void) | undefined;
  /** Callers waiting until nothing is in flight. */
  #idle: (() => void)[] = [];
  #failed = false;

  constructor(
    depth: number,
    deliver: (batch: CommitBatch) => void | Promise<void>,
    fail: (error: unknown, batches: CommitBatch[]) => void,
  ) {
    this.#depth = depth;
    this.#deliver = deliver;
    this.#fail = fail;
  }

  /** Batches appended or being appended and not delivered yet. */
  get size(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * Takes a batch whose append was just issued (`written`, what `store.append` returned, or the
   * error it threw). Returns a promise when the pipeline is full: resolved once there is room.
   */
  add(batch: CommitBatch, written: unknown, threw: boolean): void | Promise<void> {
    this.#queue.push(batch);
    if (threw) {
      batch.state = FAILED;
      batch.error = written;
    } else if (isPromiseLike(written)) {
      written.then(
        () => {
          batch.state = APPENDED;
          this.#pump();
        },
        (error: unknown) => {
          batch.state = FAILED;
          batch.error = error;
          this.#pump();
        },
      );
    } else batch.state = APPENDED;
    this.#pump();
    if (this.#failed || this.size < this.#depth) return undefined;
    return new Promise<void>((resolve) => {
      this.#space = resolve;
    });
  }

  /** Resolves once every batch added so far is delivered or failed. */
  whenIdle(): Promise<void> {
    if (this.size === 0 && !this.#busy) return Promise.resolve();
    return new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  /** Delivers the batches at the head whose appends resolved, in order. */
  #pump(): void {
    while (!this.#busy && !this.#failed && this.#head < this.#queue.length) {
      const batch = this.#queue[this.#head] as CommitBatch;
      if (batch.state === APPENDING) return;
      if (batch.state === FAILED) {
        this.#abandon(batch.error);
        return;
      }
      this.#queue[this.#head++] = undefined as unknown as CommitBatch;
      let wait: void | Promise<void> = undefined;
      try {
        wait = this.#deliver(batch);
      } catch (error) {
        // The hub catches what effects throw; reaching here is a bug in the hub itself.
        console.error('msghub: internal error delivering a committed batch', error);
      }
      if (wait !== undefined) {
        this.#busy = true;
        void wait.then(this.#delivered, this.#delivered);
      }
      this.#compact();
    }
  }

  readonly #delivered = (): void => {
    this.#busy = false;
    this.#compact();
    this.#pump();
  };

  /** The failed batch and every later one go to `fail`; the mailbox goes on (to be refused). */
  #abandon(error: unknown): void {
    this.#failed = true;
    const batches = this.#queue.slice(this.#head) as CommitBatch[];
    this.#queue = [];
    this.#head = 0;
    this.#fail(error, batches);
    this.#compact();
  }

  /** Frees the consumed part of the queue, wakes the mailbox when there is room and idle waiters when empty. */
  #compact(): void {
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    }
    const size = this.size;
    if (this.#space !== undefined && (size < this.#depth || this.#failed)) {
      const space = this.#space;
      this.#space = undefined;
      space();
    }
    if (size === 0 && !this.#busy && this.#idle.length > 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const wake of idle) wake();
    }
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
