import type { Kysely } from 'kysely';

/**
 * Several glimpse-api hosts on one database (README "Several nodes"): each node's heartbeat, the
 * leases that let one node at a time do a piece of shared work, and the node writing each upload.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('nodes')
    .addColumn('id', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('hostname', 'varchar(255)', (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('heartbeat_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('leases')
    .addColumn('name', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('holder', 'varchar(255)', (c) => c.notNull())
    .addColumn('acquired_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('expires_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.alterTable('images').addColumn('uploading_node', 'varchar(255)').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('images').dropColumn('uploading_node').execute();
  await db.schema.dropTable('leases').execute();
  await db.schema.dropTable('nodes').execute();
}
