import type { StoreSettings } from './store-settings.js';
import type { ImageStore } from './image-store.js';
import { storeDriver } from './store-drivers.js';

/** What GET /v2/info/stores says about one store (reference §9.1). */
export interface StoreInfo {
  readonly id: string;
  readonly description: string | null;
  readonly isDefault: boolean;
  readonly type: string;
  readonly properties: Readonly<Record<string, unknown>>;
}

/**
 * The configured stores by id: one in single-store mode, the `enabled_backends` in multi-store
 * mode (reference §15.1). Uploads go to the default unless the caller names another.
 */
export class StoreRegistry {
  private readonly byId: ReadonlyMap<string, { store: ImageStore; info: StoreInfo }>;

  private constructor(
    readonly multiStore: boolean,
    readonly defaultStore: ImageStore,
    entries: readonly { store: ImageStore; info: StoreInfo }[],
  ) {
    this.byId = new Map(entries.map((e) => [e.store.id, e]));
  }

  /** Opens every configured store; a datadir that cannot be used stops startup here. */
  static async open(settings: StoreSettings): Promise<StoreRegistry> {
    const entries = await Promise.all(
      settings.backends.map(async (b) => {
        const driver = storeDriver(b.type);
        return {
          store: await driver.open(b),
          info: { id: b.id, description: b.description, isDefault: b.id === settings.defaultBackend, type: b.type, properties: driver.properties(b) },
        };
      }),
    );
    const fallback = entries.find((e) => e.info.isDefault) ?? entries[0];
    if (fallback === undefined) throw new Error('no image store is configured');
    return new StoreRegistry(settings.multiStore, fallback.store, entries);
  }

  get(id: string): ImageStore | undefined {
    return this.byId.get(id)?.store;
  }

  all(): ImageStore[] {
    return [...this.byId.values()].map((e) => e.store);
  }

  info(): StoreInfo[] {
    return [...this.byId.values()].map((e) => e.info);
  }
}
