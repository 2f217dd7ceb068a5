/**
 * Group commit for the engine's writes: calls made while a batch is on its way to PostgreSQL
 * wait and go together in the next one (one round trip, one commit), so ten steps finishing
 * in one worker cost one statement, not ten. A lone call waits one turn of the event loop.
 * When a batch fails as a whole, each of its calls is retried on its own, so one bad call
 * fails alone.
 */
export class WriteBatcher<I, O> {
  private pending: Array<{ item: I; resolve: (output: O) => void; reject: (error: unknown) => void }> = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly options: {
      /** Writes many calls at once: one output per item, in their order. */
      many: (items: I[]) => Promise<O[]>;
      /** Writes one call (a batch of one, and the retry of a failed batch's calls). */
      one: (item: I) => Promise<O>;
      /** Most calls in one batch. */
      maxBatch: number;
      /** Batches on their way at once. */
      maxInFlight: number;
    },
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.pending.length === 0 || this.inFlight >= this.options.maxInFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.pending.length > 0 && this.inFlight < this.options.maxInFlight) {
      const batch = this.pending.splice(0, this.options.maxBatch);
      this.inFlight++;
      void this.write(batch).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
  }

  private async write(batch: WriteBatcher<I, O>['pending']): Promise<void> {
    if (batch.length > 1) {
      try {
        const outputs = await this.options.many(batch.map((call) => call.item));
        batch.forEach((call, index) => call.resolve(outputs[index]));
        return;
      } catch {
        // One call may be the cause: each is tried alone below, and fails (or succeeds) by itself.
      }
    }
    await Promise.all(batch.map((call) => this.options.one(call.item).then(call.resolve, call.reject)));
  }
}
