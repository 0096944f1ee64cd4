/**
 * The request side of a streaming call (a gRPC bidi stream, the gateway's streamed JSON): client
 * messages wait here in order until the handler's async iteration takes them. At `queuedMax` the
 * source is paused, so transport flow control stops the client; below half of it, reading
 * resumes. Iteration ends once the client half-closed or the call ended and the queue is empty.
 */
export interface PausableSource {
  pause(): unknown;
  resume(): unknown;
  isPaused(): boolean;
}

export class RequestQueue {
  readonly #source: PausableSource;
  readonly #queuedMax: number;
  #queue: unknown[] = [];
  #ended = false;
  #waiter: (() => void) | undefined = undefined;

  constructor(source: PausableSource, queuedMax: number) {
    this.#source = source;
    this.#queuedMax = queuedMax;
  }

  push(request: unknown): void {
    this.#queue.push(request);
    if (this.#queue.length >= this.#queuedMax) this.#source.pause();
    this.#wake();
  }

  /** No more requests: the client half-closed, or the call is over. */
  end(): void {
    this.#ended = true;
    this.#wake();
  }

  get requests(): AsyncIterable<unknown> {
    return { [Symbol.asyncIterator]: () => this.#iterate() };
  }

  async *#iterate(): AsyncGenerator<unknown> {
    for (;;) {
      if (this.#queue.length > 0) {
        const next = this.#queue.shift();
        if (this.#queue.length < this.#queuedMax / 2 && this.#source.isPaused()) this.#source.resume();
        yield next;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => { this.#waiter = resolve; });
    }
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }
}
