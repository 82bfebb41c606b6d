import type { Db } from '../db/database.js';

/** A lease held: who holds it and until when (it lapses then unless renewed). */
export interface Lease {
  readonly name: string;
  readonly holder: string;
  readonly expiresAt: Date;
}

/**
 * Database leases: a named piece of shared work (a scrubber pass, later an import job) that one
 * holder does at a time across every node on the database. Each step is a single conditional
 * statement, so two claimants never both win, on SQLite and PostgreSQL alike:
 * - claim: insert the row, or take it over when it has expired (or is already the claimant's);
 * - renew: push the expiry out, only while the claimant still holds it;
 * - release: delete it, only the holder's.
 * Expiry compares timestamps written by the nodes' clocks, which are assumed to agree within a
 * small part of the lease time (NTP), as Glance's own periodic jobs assume.
 */
export class LeaseStore {
  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The lease, or null while someone else holds it. */
  async claim(name: string, holder: string, ttlMs: number): Promise<Lease | null> {
    const now = this.now();
    const expiresAt = new Date(now.getTime() + ttlMs);
    const row = { name, holder, acquired_at: now.toISOString(), expires_at: expiresAt.toISOString() };
    // Insert, or update only a row that lapsed or is ours: the WHERE of ON CONFLICT DO UPDATE is
    // evaluated under the row lock, so exactly one of two racing claimants sees its update apply.
    const result = await this.db
      .insertInto('leases')
      .values(row)
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ holder, acquired_at: row.acquired_at, expires_at: row.expires_at })
          .where((eb) => eb.or([eb('leases.expires_at', '<=', row.acquired_at), eb('leases.holder', '=', holder)])),
      )
      .executeTakeFirst();
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n ? { name, holder, expiresAt } : null;
  }

  /** Extends a lease still held; false when it lapsed and another holder took it over. */
  async renew(lease: Lease, ttlMs: number): Promise<Lease | null> {
    const now = this.now();
    const expiresAt = new Date(now.getTime() + ttlMs);
    const result = await this.db
      .updateTable('leases')
      .set({ expires_at: expiresAt.toISOString() })
      .where('name', '=', lease.name)
      .where('holder', '=', lease.holder)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n ? { ...lease, expiresAt } : null;
  }

  async release(lease: Lease): Promise<void> {
    await this.db.deleteFrom('leases').where('name', '=', lease.name).where('holder', '=', lease.holder).execute();
  }

  /** Who holds a lease now, if anyone (a lapsed lease is held by no one). */
  async holder(name: string): Promise<string | null> {
    const row = await this.db.selectFrom('leases').select(['holder', 'expires_at']).where('name', '=', name).executeTakeFirst();
    return row === undefined || row.expires_at <= this.now().toISOString() ? null : row.holder;
  }

  /**
   * Drops the leases of a node's earlier processes (holders `<node id>#<pid>`): run before the
   * node serves again, when none of them can still be alive, so their jobs are taken over at
   * once instead of after their leases lapse.
   */
  async releaseNode(nodeId: string): Promise<number> {
    // Matched here rather than with LIKE, whose escaping differs between SQLite and PostgreSQL.
    const rows = await this.db.selectFrom('leases').select(['name', 'holder']).execute();
    let released = 0;
    for (const row of rows.filter((r) => r.holder.startsWith(`${nodeId}#`))) {
      const result = await this.db.deleteFrom('leases').where('name', '=', row.name).where('holder', '=', row.holder).executeTakeFirst();
      released += Number(result.numDeletedRows);
    }
    return released;
  }
}
