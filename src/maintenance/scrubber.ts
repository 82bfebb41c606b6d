import type { Logger } from '../ports/logger.js';
import { ConflictError, NotFoundError } from '../errors/domain-errors.js';
import type { ImageDataService } from '../images/image-data-service.js';
import type { ImageRepository } from '../images/image-repository.js';
import type { Lease, LeaseStore } from '../coordination/lease-store.js';
import type { ScrubberSettings } from './scrubber-settings.js';

export interface ScrubReport {
  readonly scrubbed: readonly string[];
  /** Images whose data could not all be removed; they stay pending_delete for the next run. */
  readonly failed: readonly string[];
  /** Set when another node (or process) was scrubbing: this pass did nothing. */
  readonly busy?: { readonly holder: string | null };
}

const PAGE = 1000;
/** The scrubber's lease: one pass at a time across every node on the database. */
export const SCRUBBER_LEASE = 'scrubber';
/** How long a pass holds the lease between renewals (one per image scrubbed). */
const LEASE_MS = 5 * 60 * 1000;

/**
 * The scrubber (reference §12): purges the data of `pending_delete` images once `scrub_time`
 * has passed since their deletion, `scrub_pool_size` at a time, then marks them `deleted`.
 * Every delete goes through pending_delete first (image-service), so a delete interrupted by a
 * crash or a store error is finished here rather than leaving bytes behind.
 */
export class Scrubber {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<ScrubReport> | null = null;

  constructor(
    private readonly repo: ImageRepository,
    private readonly data: ImageDataService,
    private readonly settings: ScrubberSettings,
    private readonly log: Logger,
    /** The lease a pass takes, and who this process is when it holds it. */
    private readonly coordination: { readonly leases: LeaseStore; readonly holder: string },
  ) {}

  /**
   * One pass, while holding the scrubber lease; `ignoreScrubTime` purges every pending_delete
   * image (delayed_delete off). When another node holds the lease the pass does nothing.
   */
  async scrubOnce(options: { readonly ignoreScrubTime?: boolean } = {}): Promise<ScrubReport> {
    const { leases, holder } = this.coordination;
    const claimed = await leases.claim(SCRUBBER_LEASE, holder, LEASE_MS);
    if (claimed === null) return { scrubbed: [], failed: [], busy: { holder: await leases.holder(SCRUBBER_LEASE) } };
    const held: { lease: Lease | null } = { lease: claimed };
    try {
      return await this.pass(options, async () => {
        held.lease = held.lease === null ? null : await leases.renew(held.lease, LEASE_MS);
        return held.lease !== null;
      });
    } finally {
      if (held.lease !== null) await leases.release(held.lease);
    }
  }

  /** Scrubs until done, or until `stillHeld` says the lease was lost. */
  private async pass(options: { readonly ignoreScrubTime?: boolean }, stillHeld: () => Promise<boolean>): Promise<ScrubReport> {
    const delay = options.ignoreScrubTime === true || !this.settings.delayedDelete ? 0 : this.settings.scrubTimeSeconds;
    const before = new Date(Date.now() - delay * 1000).toISOString();
    const scrubbed: string[] = [];
    const failed: string[] = [];
    const seen = new Set<string>();
    for (;;) {
      const ids = (await this.repo.pendingDeletes(before, PAGE)).filter((id) => !seen.has(id));
      if (ids.length === 0) break;
      for (let i = 0; i < ids.length; i += this.settings.poolSize) {
        if (!(await stillHeld())) {
          this.log.warn({ scrubbed: scrubbed.length }, 'scrubber lease lost to another node; pass stopped');
          return { scrubbed, failed };
        }
        await Promise.all(
          ids.slice(i, i + this.settings.poolSize).map(async (id) => {
            seen.add(id);
            ((await this.scrubImage(id)) ? scrubbed : failed).push(id);
          }),
        );
      }
    }
    if (scrubbed.length > 0 || failed.length > 0) this.log.info({ scrubbed: scrubbed.length, failed: failed.length }, 'scrubber pass');
    return { scrubbed, failed };
  }

  private async scrubImage(id: string): Promise<boolean> {
    if (!(await this.data.purge(id))) return false;
    if (!(await this.repo.transitionStatus(id, 'pending_delete', 'deleted'))) return false;
    await this.repo.purgeDetails(id);
    return true;
  }

  /** `--restore <id>`: pending_delete → active with its data intact (reference §12). */
  async restore(id: string): Promise<void> {
    const status = await this.repo.statusIncludingDeleted(id);
    if (status === null) throw new NotFoundError(`No image found with ID ${id}`);
    if (status !== 'pending_delete') throw new ConflictError(`cannot restore the image from ${status} to active (wanted from_state=pending_delete)`);
    if (!(await this.repo.transitionStatus(id, 'pending_delete', 'active'))) throw new ConflictError(`Image ${id} changed while it was being restored; retry.`);
  }

  /** Runs a pass every `wakeup_time` seconds until stop(). */
  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      if (this.running !== null) return;
      this.running = this.scrubOnce().catch((error: unknown) => {
        this.log.error({ err: error }, 'scrubber pass failed');
        return { scrubbed: [], failed: [] };
      });
      void this.running.finally(() => {
        this.running = null;
      });
    }, this.settings.wakeupSeconds * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
