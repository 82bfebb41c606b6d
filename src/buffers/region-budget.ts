import type { RegionPool } from './region-pool.js';

/** How long a read waits for the budget before it goes over it (see RegionBudget). */
const STALL_MS = 5000;

export interface RegionBudgetOptions {
  /** How long a read waits before it takes a region over the budget; STALL_MS unless told. */
  readonly stallMs?: number;
}

/**
 * A ceiling on the pooled regions a process's reads of image data hold at once, shared by every
 * import it runs: one import alone may use all of it, ten at once share it, so memory stays flat
 * however many run (the issue-13 benchmark: 50 imports at once under 500 MB). A read takes a
 * region before it reads into it and waits, in turn, while the budget is spent; a region counts
 * until its chunk's last holder releases it (src/buffers/chunk-lease.ts).
 *
 * A chunk dropped unreleased (a pipeline torn down on an error holds some in its buffers) must
 * not shrink the budget for good, so the count is kept per read, a `RegionSession`: closing it
 * returns whatever it still holds. Its chunks still in flight after the close are then not
 * counted; that overshoot is at most one read's worth, and brief. And a consumer that keeps
 * chunks without releasing them (chunk-lease.ts allows it) must not hang every read of the
 * process: a read that has waited `stallMs` takes a region over the budget, slower, never stuck.
 */
export class RegionBudget {
  #outstanding = 0;
  #overdrafts = 0;
  readonly #waiting: (() => void)[] = [];

  readonly #stallMs: number;

  constructor(
    readonly pool: RegionPool,
    readonly maxRegions: number,
    options: RegionBudgetOptions = {},
  ) {
    this.#stallMs = options.stallMs ?? STALL_MS;
  }

  /** Regions taken and not yet given back (for tests and metrics). */
  get outstanding(): number {
    return this.#outstanding;
  }

  /** Regions taken over the budget because a read waited too long (for tests and metrics). */
  get overdrafts(): number {
    return this.#overdrafts;
  }

  session(): RegionSession {
    return new RegionSession(this);
  }

  /**
   * @internal A slot, now or once one is handed over (in order of asking); after STALL_MS, one
   * over the budget (counted, and returned like any other).
   */
  async claim(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    if (this.#outstanding < this.maxRegions && this.#waiting.length === 0) {
      this.#outstanding += 1;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const leave = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', abort);
        const index = this.#waiting.indexOf(granted);
        if (index >= 0) this.#waiting.splice(index, 1);
      };
      const granted = (): void => {
        leave();
        resolve();
      };
      const abort = (): void => {
        leave();
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      const timer = setTimeout(() => {
        leave();
        this.#outstanding += 1;
        this.#overdrafts += 1;
        resolve();
      }, this.#stallMs);
      this.#waiting.push(granted);
      signal?.addEventListener('abort', abort, { once: true });
    });
  }

  /** @internal Returns `count` slots: each goes straight to the read waiting longest, if any. */
  unclaim(count: number): void {
    for (let i = 0; i < count; i += 1) {
      const next = this.#waiting.shift();
      if (next === undefined) this.#outstanding -= 1;
      else next();
    }
  }
}

/** One read's share of a RegionBudget. */
export class RegionSession {
  #held = 0;
  #closed = false;

  constructor(private readonly budget: RegionBudget) {}

  /** A region to read into, once the budget allows one. */
  async take(signal?: AbortSignal): Promise<Uint8Array<SharedArrayBuffer>> {
    if (this.#closed) throw new Error('region session is closed');
    await this.budget.claim(signal);
    // Closed while it waited: the slot it was handed goes straight back.
    if (this.#isClosed()) {
      this.budget.unclaim(1);
      throw new Error('region session is closed');
    }
    this.#held += 1;
    return this.budget.pool.take();
  }

  /** The first `length` bytes of `region` as a leased chunk; its release returns the slot. */
  lend(region: Uint8Array<SharedArrayBuffer>, length: number): Buffer {
    return this.budget.pool.lend(region, length, () => {
      this.#returnOne();
    });
  }

  /** A region taken and not lent (the read found nothing more). */
  giveBack(region: Uint8Array<SharedArrayBuffer>): void {
    this.budget.pool.giveBack(region);
    this.#returnOne();
  }

  /** Returns every slot this read still holds; later releases of its chunks count for nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const held = this.#held;
    this.#held = 0;
    this.budget.unclaim(held);
  }

  #isClosed(): boolean {
    return this.#closed;
  }

  #returnOne(): void {
    if (this.#closed || this.#held === 0) return;
    this.#held -= 1;
    this.budget.unclaim(1);
  }
}
