import { hostname } from 'node:os';
import type { Db } from '../db/database.js';

/** Rows of nodes gone this long are forgotten. */
const FORGET_AFTER_MS = 7 * 24 * 3600 * 1000;

/**
 * The glimpse-api nodes sharing a database, each with a heartbeat row (README "Several nodes").
 * A node is live while its heartbeat is newer than `deadAfterMs`; recovery on one node leaves the
 * uploads of live nodes alone and finishes those of dead ones. Every process of a node beats for
 * it (the id is the node's, not the process's), so one process stopping does not make it dead.
 */
export class NodeRegistry {
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    readonly nodeId: string,
    private readonly options: { readonly heartbeatMs: number; readonly deadAfterMs: number },
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Records (or refreshes) this node's row. */
  async beat(): Promise<void> {
    const at = this.now().toISOString();
    await this.db
      .insertInto('nodes')
      .values({ id: this.nodeId, hostname: hostname(), pid: process.pid, started_at: at, heartbeat_at: at })
      .onConflict((oc) => oc.column('id').doUpdateSet({ heartbeat_at: at, hostname: hostname(), pid: process.pid }))
      .execute();
  }

  /** Beats now and every heartbeat interval until `stop`. */
  async start(onError: (error: unknown) => void): Promise<void> {
    await this.beat();
    await this.db
      .deleteFrom('nodes')
      .where('heartbeat_at', '<', new Date(this.now().getTime() - FORGET_AFTER_MS).toISOString())
      .execute();
    this.#timer = setInterval(() => {
      this.beat().catch(onError);
    }, this.options.heartbeatMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Nodes whose heartbeat is recent enough that their work must be left alone. */
  async liveNodes(): Promise<Set<string>> {
    const since = new Date(this.now().getTime() - this.options.deadAfterMs).toISOString();
    const rows = await this.db.selectFrom('nodes').select('id').where('heartbeat_at', '>', since).execute();
    return new Set(rows.map((r) => r.id));
  }
}
