import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Chunk } from '../../buffers/chunk-lease.js';
import type { ImageStore, LocalFile, StoreCapabilities, StoredObject, StoreReadOptions, StoreWriteOptions, StoreWriteResult } from '../image-store.js';
import {
  StoreAbortedError,
  StoreDuplicateError,
  StoreError,
  StoreFullError,
  StoreNotFoundError,
  StoreRangeError,
  StoreSizeLimitError,
  StoreUnavailableError,
  StoreUnsupportedError,
  StoreWriteDeniedError,
} from '../store-errors.js';
import type { SwiftBackendSettings } from '../store-settings.js';
import type { SwiftAccountAuth, SwiftCredentials } from './swift-auth.js';
import type { SwiftHttp, SwiftResponse } from './swift-http.js';
import { formatLocation, IMAGE_OBJECT, parseLocation, SEGMENT_GROUP, SEGMENT_OBJECT, segmentName, type SwiftLocation } from './swift-location.js';
import { SegmentReader } from '../segment-reader.js';
import { limited } from '../size-limit.js';
import { checkRange, rangeHeader, requireServed } from '../served-range.js';

/** Objects per listing page (Swift's maximum). */
const PAGE = 10_000;

interface ListingEntry {
  readonly name: string;
  readonly bytes: number;
  /** Present for a static large object's manifest. */
  readonly slo_etag?: string;
}

interface Segment {
  readonly path: string;
  readonly etag: string;
  readonly size_bytes: number;
}

function header(response: SwiftResponse | { headers: SwiftResponse['headers'] }, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Images in one Swift account (single-tenant, reference §15.2), in one container or spread over
 * `<container>_<prefix>` containers. Data known to be at most `swift_store_large_object_size` is
 * one object; anything larger or of unknown size is a static large object: segments of
 * `swift_store_large_object_chunk_size` under a write id of their own, then a manifest. Every
 * final PUT carries `If-None-Match: *`, so of two writes of one image only one can publish, and a
 * write that fails removes its segments before it rejects.
 */
export class SwiftStore implements ImageStore {
  readonly capabilities: StoreCapabilities = { localFiles: false, exclusivePublish: false };
  readonly #containers = new Set<string>();

  constructor(
    readonly id: string,
    private readonly settings: SwiftBackendSettings,
    private readonly http: SwiftHttp,
    private readonly auth: SwiftAccountAuth,
  ) {}

  async write(imageId: string, data: AsyncIterable<Chunk>, options: StoreWriteOptions): Promise<StoreWriteResult> {
    if (!IMAGE_OBJECT.test(imageId)) throw new StoreUnavailableError(`'${imageId}' is not a valid image id for the Swift store.`);
    const container = this.#containerOf(imageId);
    const writeId = randomBytes(8).toString('hex');
    const counter = { bytes: 0 };
    const reader = new SegmentReader(limited(data, options.maxBytes, counter));
    const signal = options.signal;
    const location = formatLocation({ reference: this.settings.account.name, container, object: imageId });
    // Set once this write's object is visible: a failure after that removes the object too.
    const state = { published: false };
    try {
      if (signal?.aborted === true) throw new StoreAbortedError('The write was aborted.');
      await this.#ensureContainer(container);
      if ((await this.#call('HEAD', `${container}/${imageId}`, {}, { idempotent: true })).status < 300) {
        throw new StoreDuplicateError(`Image ${imageId} already has data in store ${this.id}.`);
      }
      const expected = options.expectedSize ?? null;
      if (expected !== null && expected <= this.settings.largeObjectSize) {
        // Small and of known size: one object. A body that turns out larger than a large object
        // fails before its end is sent, so Swift never publishes a cut-off copy.
        const { response } = await this.#upload(`${container}/${imageId}`, this.#whole(reader), this.#finalHeaders(writeId), signal);
        this.#publish(imageId, response);
      } else {
        await this.#writeSegments(container, imageId, writeId, reader, signal);
      }
      state.published = true;
      if (!(await this.#isOurs(container, imageId, writeId))) {
        state.published = false;
        throw new StoreDuplicateError(`Image ${imageId} already has data in store ${this.id}: another write published it at the same time.`);
      }
      return { location, size: counter.bytes };
    } catch (error) {
      await reader.close().catch(() => undefined);
      // The object too when it was published and the check after it failed: it is ours, unless
      // two writes of one image raced, which callers never do (src/stores/image-store.ts).
      if (state.published) await this.delete(location).catch(() => undefined);
      await this.#removeSegments(container, imageId, writeId).catch(() => undefined);
      if (signal?.aborted === true && !(error instanceof StoreSizeLimitError)) throw new StoreAbortedError('The write was aborted.', { cause: error });
      throw error instanceof StoreError
        ? error
        : new StoreUnavailableError(`The Swift store failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  async #writeSegments(container: string, imageId: string, writeId: string, reader: SegmentReader, signal: AbortSignal | undefined): Promise<void> {
    const segments: Segment[] = [];
    while (await reader.more()) {
      const name = segmentName(imageId, writeId, segments.length + 1);
      const { response, bytes } = await this.#upload(`${container}/${name}`, reader.segment(this.settings.segmentSize), {}, signal);
      if (response.status !== 201) throw this.#writeFailure(response, `segment ${name}`);
      segments.push({ path: `/${container}/${name}`, etag: header(response, 'etag') ?? '', size_bytes: bytes });
    }
    if (segments.length === 0) {
      // No bytes at all: a large object needs one segment, so an empty image is an empty object.
      this.#publish(imageId, await this.#call('PUT', `${container}/${imageId}`, { ...this.#finalHeaders(writeId), 'content-length': '0' }));
      return;
    }
    const manifest = Buffer.from(JSON.stringify(segments));
    this.#publish(
      imageId,
      await this.#call(
        'PUT',
        `${container}/${imageId}?multipart-manifest=put`,
        { ...this.#finalHeaders(writeId), 'content-type': 'application/json' },
        { body: manifest },
      ),
    );
  }

  /** Every byte of the reader, up to a large object's size; more than that fails the body. */
  async *#whole(reader: SegmentReader): AsyncGenerator<Chunk> {
    yield* reader.segment(this.settings.largeObjectSize);
    if (await reader.more()) {
      throw new StoreUnavailableError(`The data is larger than its declared size and than swift_store_large_object_size; upload it without a size.`);
    }
  }

  /** Streams one object or segment; Swift's answer and the bytes it was sent. */
  async #upload(
    path: string,
    body: AsyncIterable<Chunk>,
    headers: Readonly<Record<string, string>>,
    signal: AbortSignal | undefined,
  ): Promise<{ response: SwiftResponse; bytes: number }> {
    // Renewed here when about to expire, so each segment of a long transfer starts with a valid token.
    const credentials = await this.auth.credentials();
    let bytes = 0;
    async function* counted(): AsyncGenerator<Chunk> {
      for await (const chunk of body) {
        bytes += chunk.length;
        yield chunk;
      }
    }
    const response = await this.http.upload(
      `${credentials.storageUrl}/${path}`,
      { 'x-auth-token': credentials.token, 'content-type': 'application/octet-stream', ...headers },
      counted(),
      signal,
    );
    if (response.status === 401) this.auth.invalidate(credentials.token);
    return { response, bytes };
  }

  /** The headers of the PUT that publishes an image: refused when one exists, and marked as this write's. */
  #finalHeaders(writeId: string): Record<string, string> {
    return { 'if-none-match': '*', 'x-object-meta-glimpse-write': writeId };
  }

  /**
   * If-None-Match only sees finished objects, so a write that started before this one finished
   * may have replaced it (Swift keeps the newest). The copy that stands names its write; when it
   * is not this one, this write lost.
   */
  async #isOurs(container: string, imageId: string, writeId: string): Promise<boolean> {
    const head = await this.#call('HEAD', `${container}/${imageId}`, {}, { idempotent: true });
    if (head.status >= 300 && head.status !== 404) throw new StoreUnavailableError(`Swift answered ${head.status} to HEAD of image ${imageId}.`);
    return head.status < 300 && header(head, 'x-object-meta-glimpse-write') === writeId;
  }

  #publish(imageId: string, response: SwiftResponse): void {
    if (response.status === 201) return;
    if (response.status === 412) throw new StoreDuplicateError(`Image ${imageId} already has data in store ${this.id}.`);
    throw this.#writeFailure(response, `image ${imageId}`);
  }

  #writeFailure(response: SwiftResponse, what: string): StoreError {
    const detail = `Swift answered ${response.status} to the write of ${what}`;
    if (response.status === 413) return new StoreFullError(`${detail} (over the account's quota or Swift's size limit).`);
    if (response.status === 507) return new StoreFullError(`${detail} (insufficient storage).`);
    if (response.status === 401 || response.status === 403) return new StoreWriteDeniedError(`${detail}.`);
    if (response.status === 404) return new StoreUnavailableError(`${detail}: the container does not exist.`);
    return new StoreUnavailableError(`${detail}.`);
  }

  async read(location: string, options: StoreReadOptions = {}): Promise<Readable> {
    const parsed = this.#own(location);
    const range = options.range;
    if (range !== undefined) checkRange(range, location);
    const headers: Record<string, string> = range === undefined ? {} : { range: rangeHeader(range) };
    for (let attempt = 0; ; attempt += 1) {
      const credentials = await this.auth.credentials();
      const response = await this.http.get(`${credentials.storageUrl}/${parsed.container}/${parsed.object}`, { 'x-auth-token': credentials.token, ...headers });
      const status = response.statusCode ?? 0;
      if (status === 200 && range === undefined) return response;
      if (status === 206 && range !== undefined) {
        try {
          requireServed(range, header(response, 'content-range'), location);
        } catch (error) {
          response.destroy();
          throw error;
        }
        return response;
      }
      response.resume();
      if (status === 401 && attempt === 0) {
        this.auth.invalidate(credentials.token);
        continue;
      }
      if (status === 404) throw new StoreNotFoundError(`No data at ${location}.`);
      // 416: the range starts past the end; 200 to a ranged read: Swift ignored the range.
      if (status === 416 || status === 200) throw new StoreRangeError(`Range outside the object at ${location}.`);
      throw new StoreUnavailableError(`Swift answered ${status} to the read of ${location}.`);
    }
  }

  async stat(location: string): Promise<{ readonly size: number }> {
    const parsed = this.#own(location);
    const response = await this.#call('HEAD', `${parsed.container}/${parsed.object}`, {}, { idempotent: true });
    if (response.status === 404) throw new StoreNotFoundError(`No data at ${location}.`);
    if (response.status >= 300) throw new StoreUnavailableError(`Swift answered ${response.status} to HEAD of ${location}.`);
    return { size: Number(header(response, 'content-length') ?? 0) };
  }

  openLocal(): Promise<LocalFile> {
    return Promise.reject(new StoreUnsupportedError('The Swift store has no local files.'));
  }

  async delete(location: string): Promise<void> {
    const parsed = this.#own(location);
    const group = SEGMENT_GROUP.exec(parsed.object);
    if (group !== null) {
      const removed = await this.#removePrefix(parsed.container, parsed.object);
      if (removed === 0) throw new StoreNotFoundError(`No data at ${location}.`);
      return;
    }
    const path = `${parsed.container}/${parsed.object}`;
    const head = await this.#call('HEAD', path, {}, { idempotent: true });
    if (head.status === 404) throw new StoreNotFoundError(`No data at ${location}.`);
    if (head.status >= 300) throw new StoreUnavailableError(`Swift answered ${head.status} to HEAD of ${location}.`);
    const dynamicManifest = header(head, 'x-object-manifest');
    if (header(head, 'x-static-large-object')?.toLowerCase() === 'true') {
      // Removes the manifest and every segment it names, in one request.
      const response = await this.#call('DELETE', `${path}?multipart-manifest=delete`, { accept: 'application/json' }, { idempotent: true });
      if (response.status === 404) throw new StoreNotFoundError(`No data at ${location}.`);
      const result = this.#json(response.body) as { Errors?: unknown[]; 'Response Status'?: string } | null;
      if (response.status >= 300 || (result?.Errors?.length ?? 0) > 0) {
        throw new StoreUnavailableError(`Swift could not delete ${location} (${result?.['Response Status'] ?? response.status}).`);
      }
      return;
    }
    if (dynamicManifest !== undefined) {
      // Written by Glance: X-Object-Manifest names the segments' container and prefix.
      const [segmentContainer = '', ...prefix] = decodeURIComponent(dynamicManifest).split('/');
      await this.#removePrefix(segmentContainer, prefix.join('/'));
    }
    const response = await this.#call('DELETE', path, {}, { idempotent: true });
    if (response.status === 404) throw new StoreNotFoundError(`No data at ${location}.`);
    if (response.status >= 300) throw new StoreUnavailableError(`Swift answered ${response.status} to the delete of ${location}.`);
  }

  /**
   * Image objects, and the segments of writes that never published a manifest (a crash, a
   * delete that failed half way) as one partial object per write. Segments a manifest names
   * belong to it and are not listed.
   */
  async *list(imageId?: string): AsyncIterable<StoredObject> {
    for (const container of await this.#allContainers(imageId)) {
      const images = new Map<string, ListingEntry>();
      const groups = new Map<string, { imageId: string; bytes: number }>();
      for await (const entry of this.#objects(container, imageId)) {
        if (IMAGE_OBJECT.test(entry.name)) {
          if (imageId === undefined || entry.name === imageId) images.set(entry.name, entry);
          continue;
        }
        const segment = SEGMENT_OBJECT.exec(entry.name);
        if (segment === null || (imageId !== undefined && segment[1] !== imageId)) continue;
        const key = `${segment[1] ?? ''}/${segment[2] ?? ''}/`;
        const group = groups.get(key) ?? { imageId: segment[1] ?? '', bytes: 0 };
        groups.set(key, { ...group, bytes: group.bytes + entry.bytes });
      }
      for (const entry of images.values()) {
        yield { location: this.#location(container, entry.name), size: entry.bytes, imageId: entry.name, partial: false };
      }
      const referenced = new Set<string>();
      for (const id of new Set([...groups.values()].map((g) => g.imageId))) {
        if (images.get(id)?.slo_etag === undefined) continue;
        for (const key of await this.#manifestGroups(container, id)) referenced.add(key);
      }
      for (const [key, group] of groups) {
        if (!referenced.has(key)) yield { location: this.#location(container, key), size: group.bytes, imageId: group.imageId, partial: true };
      }
    }
  }

  /** The write groups (`<id>/<write id>/`) a static large object's manifest names. */
  async #manifestGroups(container: string, imageId: string): Promise<string[]> {
    const response = await this.#call('GET', `${container}/${imageId}?multipart-manifest=get&format=raw`, {}, { idempotent: true });
    const manifest = response.status === 200 ? this.#json(response.body) : null;
    if (!Array.isArray(manifest)) return [];
    const keys: string[] = [];
    for (const segment of manifest as unknown[]) {
      const path = typeof segment === 'object' && segment !== null && 'path' in segment ? String(segment.path) : '';
      const match = SEGMENT_OBJECT.exec(path.replace(/^\/[^/]+\//, ''));
      if (match !== null) keys.push(`${match[1] ?? ''}/${match[2] ?? ''}/`);
    }
    return keys;
  }

  async *#objects(container: string, prefix: string | undefined): AsyncGenerator<ListingEntry> {
    let marker = '';
    for (;;) {
      const query = new URLSearchParams({ format: 'json', limit: String(PAGE), marker, ...(prefix === undefined ? {} : { prefix }) });
      const response = await this.#call('GET', `${container}?${query.toString()}`, {}, { idempotent: true });
      if (response.status === 404) return;
      if (response.status >= 300) throw new StoreUnavailableError(`Swift answered ${response.status} to the listing of container ${container}.`);
      const page = response.status === 204 ? [] : this.#json(response.body);
      if (!Array.isArray(page) || page.length === 0) return;
      for (const entry of page as ListingEntry[]) yield entry;
      marker = (page[page.length - 1] as ListingEntry).name;
      if (page.length < PAGE) return;
    }
  }

  /** The containers that may hold images (one, or every `<container>_<prefix>` of the seed). */
  async #allContainers(imageId: string | undefined): Promise<string[]> {
    if (this.settings.containersSeed === 0) return [this.settings.container];
    if (imageId !== undefined) return [this.#containerOf(imageId)];
    const names: string[] = [];
    let marker = '';
    for (;;) {
      const query = new URLSearchParams({ format: 'json', limit: String(PAGE), marker, prefix: `${this.settings.container}_` });
      const response = await this.#call('GET', `?${query.toString()}`, {}, { idempotent: true });
      if (response.status >= 300) throw new StoreUnavailableError(`Swift answered ${response.status} to the listing of the account.`);
      const page = response.status === 204 ? [] : this.#json(response.body);
      if (!Array.isArray(page) || page.length === 0) break;
      for (const entry of page as { name: string }[]) {
        if (entry.name.length === this.settings.container.length + 1 + this.settings.containersSeed) names.push(entry.name);
      }
      marker = (page[page.length - 1] as { name: string }).name;
      if (page.length < PAGE) break;
    }
    return names;
  }

  /** Removes every object under `prefix`; how many there were. */
  async #removePrefix(container: string, prefix: string): Promise<number> {
    const names: string[] = [];
    for await (const entry of this.#objects(container, prefix)) names.push(entry.name);
    for (const name of names) {
      const response = await this.#call('DELETE', `${container}/${encodePath(name)}`, {}, { idempotent: true });
      if (response.status >= 300 && response.status !== 404) throw new StoreUnavailableError(`Swift answered ${response.status} to the delete of ${name}.`);
    }
    return names.length;
  }

  #removeSegments(container: string, imageId: string, writeId: string): Promise<number> {
    return this.#removePrefix(container, `${imageId}/${writeId}/`);
  }

  /** The image's container, created once per process when `swift_store_create_container_on_put` says so. */
  async #ensureContainer(container: string): Promise<void> {
    if (this.#containers.has(container)) return;
    const head = await this.#call('HEAD', container, {}, { idempotent: true });
    if (head.status === 404) {
      if (!this.settings.createContainerOnPut) {
        throw new StoreUnavailableError(
          `Swift container ${container} does not exist: create it, or set swift_store_create_container_on_put = True for store ${this.id}.`,
        );
      }
      const created = await this.#call('PUT', container, { 'content-length': '0' }, { idempotent: true });
      if (created.status >= 300) throw this.#writeFailure(created, `container ${container}`);
    } else if (head.status >= 300) {
      throw new StoreUnavailableError(`Swift answered ${head.status} to HEAD of container ${container}.`);
    }
    this.#containers.add(container);
  }

  #containerOf(imageId: string): string {
    const seed = this.settings.containersSeed;
    return seed === 0 ? this.settings.container : `${this.settings.container}_${imageId.slice(0, seed)}`;
  }

  #location(container: string, object: string): string {
    return formatLocation({ reference: this.settings.account.name, container, object });
  }

  /** A location of this store's account and containers; anything else is not ours. */
  #own(location: string): SwiftLocation {
    const parsed = parseLocation(location);
    const prefix = this.settings.container;
    const ours =
      parsed !== null &&
      parsed.reference === this.settings.account.name &&
      (this.settings.containersSeed === 0 ? parsed.container === prefix : parsed.container.startsWith(`${prefix}_`));
    if (!ours) throw new StoreNotFoundError(`${location} is not in store ${this.id}.`);
    return parsed;
  }

  /** A request on the account with its token; a refused token is renewed and the request sent once more. */
  async #call(
    method: string,
    path: string,
    headers: Readonly<Record<string, string>>,
    options: { readonly idempotent?: boolean; readonly body?: Buffer } = {},
  ): Promise<SwiftResponse> {
    for (let attempt = 0; ; attempt += 1) {
      const credentials: SwiftCredentials = await this.auth.credentials();
      const url = path.startsWith('?') ? `${credentials.storageUrl}${path}` : `${credentials.storageUrl}/${path}`;
      const response = await this.http.request(method, url, { 'x-auth-token': credentials.token, ...headers }, options);
      if (response.status !== 401 || attempt > 0) return response;
      this.auth.invalidate(credentials.token);
    }
  }

  #json(body: Buffer): unknown {
    try {
      return JSON.parse(body.toString('utf8'));
    } catch {
      return null;
    }
  }
}

/** Object names in a path: each part percent-encoded, the slashes kept. */
function encodePath(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}
