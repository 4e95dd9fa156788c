/**
 * One subscriber's queue, as an async iterable. It is registered when
 * created, so nothing pushed afterwards is missed even before iteration
 * starts. With `latestOnly` it keeps just the newest value (a full state such
 * as seat usage), so a slow consumer costs one value of memory.
 *
 * @example
 * const channel = new Channel<number>({ latestOnly: true });
 * channel.push(1); channel.push(2);
 * for await (const v of channel) console.log(v); // 2, then whatever comes next
 */
export class Channel<T> implements AsyncIterableIterator<T> {
  private readonly queue: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | null = null;
  private failWaiting: ((error: Error) => void) | null = null;
  private closed = false;
  private failure: Error | null = null;
  private direct: ((value: T) => boolean) | null = null;

  constructor(private readonly options: { latestOnly: boolean; onClose?: () => void }) {}

  push(value: T): void {
    if (this.closed) return;
    // The consumer waits, so everything before this value is handled: it may go out at once, past the iterator.
    if (this.waiting && this.direct?.(value)) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      this.failWaiting = null;
      resolve({ value, done: false });
      return;
    }
    if (this.options.latestOnly) this.queue.length = 0;
    this.queue.push(value);
  }

  /**
   * A way to deliver a value without the iterator, tried for each value
   * pushed while the consumer waits for the next one (never past a value
   * still queued); it returns false to have the value go the usual way.
   */
  deliverDirectly(deliver: (value: T) => boolean): void {
    this.direct = deliver;
  }

  backlog(): number {
    return this.queue.length;
  }

  /** Ends the iteration with an error (a subscriber that cannot keep up). */
  fail(error: Error): void {
    if (this.closed) return;
    this.failure = error;
    const reject = this.failWaiting;
    this.finish();
    reject?.(error);
  }

  close(): void {
    if (this.closed) return;
    const resolve = this.waiting;
    this.finish();
    resolve?.({ value: undefined, done: true });
  }

  private finish(): void {
    this.closed = true;
    this.direct = null;
    this.waiting = null;
    this.failWaiting = null;
    this.queue.length = 0;
    this.options.onClose?.();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.queue.length > 0) return Promise.resolve({ value: this.queue.shift() as T, done: false });
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
