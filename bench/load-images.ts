import Database from 'better-sqlite3';
import { migrateToLatest, openDatabase } from '../src/db/database.js';
import { benchImages, type BenchImage } from './dataset.js';

const BATCH = 500;

/** Loads the data set into a fresh Glimpse SQLite database through Kysely. */
export async function loadGlimpse(path: string, count: number): Promise<void> {
  const db = openDatabase({ kind: 'sqlite', path });
  await migrateToLatest(db);
  let batch: BenchImage[] = [];
  const flush = async (): Promise<void> => {
    const images = batch;
    batch = [];
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('images')
        .values(
          images.map((i) => ({
            id: i.id,
            name: i.name,
            status: i.status,
            visibility: i.visibility,
            protected: 0,
            os_hidden: 0,
            checksum: null,
            os_hash_algo: null,
            os_hash_value: null,
            owner: i.owner,
            size: i.size,
            virtual_size: null,
            min_ram: i.minRam,
            min_disk: i.minDisk,
            disk_format: i.diskFormat,
            container_format: i.containerFormat,
            created_at: i.createdAt.toISOString(),
            updated_at: i.createdAt.toISOString(),
            deleted: 0,
            deleted_at: null,
          })),
        )
        .execute();
      const properties = images.flatMap((i) => Object.entries(i.properties).map(([name, value]) => ({ image_id: i.id, name, value })));
      for (let k = 0; k < properties.length; k += BATCH)
        await trx
          .insertInto('image_properties')
          .values(properties.slice(k, k + BATCH))
          .execute();
      const tags = images.flatMap((i) => i.tags.map((value) => ({ image_id: i.id, value })));
      if (tags.length > 0) await trx.insertInto('image_tags').values(tags).execute();
      const members = images.flatMap((i) =>
        i.members.map((m) => ({
          image_id: i.id,
          member: m.member,
          status: m.status,
          created_at: i.createdAt.toISOString(),
          updated_at: i.createdAt.toISOString(),
        })),
      );
      if (members.length > 0) await trx.insertInto('image_members').values(members).execute();
    });
  };
  for (const image of benchImages(count)) {
    batch.push(image);
    if (batch.length === BATCH) await flush();
  }
  if (batch.length > 0) await flush();
  await db.destroy();
}

/** Glance stores naive UTC datetimes as SQLAlchemy writes them to SQLite. */
function glanceTime(date: Date): string {
  return date.toISOString().replace('T', ' ').replace('Z', '000');
}

/** Loads the same data set into Glance's SQLite database (after `glance-manage db_sync`). */
export function loadGlance(path: string, count: number): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  const image = db.prepare(
    `insert into images (id, name, size, status, created_at, updated_at, deleted, disk_format, container_format, owner, min_disk, min_ram, protected, visibility, os_hidden)
     values (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, 0, ?, 0)`,
  );
  const property = db.prepare('insert into image_properties (image_id, name, value, created_at, deleted) values (?, ?, ?, ?, 0)');
  const tag = db.prepare('insert into image_tags (image_id, value, created_at, deleted) values (?, ?, ?, 0)');
  const member = db.prepare('insert into image_members (image_id, member, can_share, created_at, updated_at, deleted, status) values (?, ?, 0, ?, ?, 0, ?)');
  const insertAll = db.transaction((images: BenchImage[]) => {
    for (const i of images) {
      const at = glanceTime(i.createdAt);
      image.run(i.id, i.name, i.size, i.status, at, at, i.diskFormat, i.containerFormat, i.owner, i.minDisk, i.minRam, i.visibility);
      for (const [name, value] of Object.entries(i.properties)) property.run(i.id, name, value, at);
      for (const t of i.tags) tag.run(i.id, t, at);
      for (const m of i.members) member.run(i.id, m.member, at, at, m.status);
    }
  });
  let batch: BenchImage[] = [];
  for (const i of benchImages(count)) {
    batch.push(i);
    if (batch.length === 5000) {
      insertAll(batch);
      batch = [];
    }
  }
  insertAll(batch);
  db.close();
}
