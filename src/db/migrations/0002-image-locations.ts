import type { Kysely } from 'kysely';

/** Where each image's data lives: one row per stored copy (reference §8; never shown to users). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('image_locations')
    .addColumn('image_id', 'varchar(36)', (c) => c.notNull().references('images.id'))
    .addColumn('store_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('url', 'varchar(2048)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addPrimaryKeyConstraint('image_locations_pk', ['image_id', 'url'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('image_locations').execute();
}
