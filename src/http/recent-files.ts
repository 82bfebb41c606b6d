/**
 * Keys (files, by device and inode) seen within the last `windowMs`, at most `capacity` of them,
 * the least recent forgotten first. Downloads use it to admit an image into the page cache on
 * its second download, not its first (src/http/file-response.ts).
 */
export class RecentFiles {
  /** Key → when last seen; Map order is least recent first. */
  readonly #seen = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly capacity: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether `key` was seen within the window; either way it is now the most recent. */
  touch(key: string): boolean {
    const at = this.now();
    const last = this.#seen.get(key);
    this.#seen.delete(key);
    this.#seen.set(key, at);
    for (const oldest of this.#seen.keys()) {
      if (this.#seen.size <= this.capacity) break;
      this.#seen.delete(oldest);
    }
    return last !== undefined && at - last <= this.windowMs;
  }
}
