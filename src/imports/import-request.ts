import { InvalidInputError } from '../errors/domain-errors.js';

/** A `POST /v2/images/{id}/import` body, checked (reference §9.3 step 1). */
export interface ImportRequest {
  readonly method: string;
  /** web-download's source. */
  readonly uri: string | null;
  /** glance-download's source: the remote image service's region, image and interface. */
  readonly remote: { readonly region: string; readonly imageId: string; readonly serviceInterface: string } | null;
  readonly stores: readonly string[] | null;
  readonly allStores: boolean;
  readonly allStoresMustSucceed: boolean;
  /** The body as sent: the task's `import_req` input. */
  readonly body: Readonly<Record<string, unknown>>;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

function flag(body: Readonly<Record<string, unknown>>, name: string, defaultValue: boolean): boolean {
  const value = body[name];
  if (value === undefined) return defaultValue;
  if (typeof value !== 'boolean') throw new InvalidInputError(`'${name}' must be boolean value only`);
  return value;
}

/** Glance's checks and messages, in its order: the method, its name, enabled, then the flags. */
export function parseImportRequest(raw: unknown, enabledMethods: readonly string[]): ImportRequest {
  const body = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Readonly<Record<string, unknown>>) : {};
  const method = body['method'];
  if (typeof method !== 'object' || method === null || Array.isArray(method)) throw new InvalidInputError("Import request requires a 'method' field.");
  const fields = method as Readonly<Record<string, unknown>>;
  const name = fields['name'];
  if (typeof name !== 'string' || name === '') throw new InvalidInputError("Import request requires a 'name' field.");
  if (!enabledMethods.includes(name)) throw new InvalidInputError(`Unknown import method name '${name}'.`);
  const allStoresMustSucceed = flag(body, 'all_stores_must_succeed', true);
  const allStores = flag(body, 'all_stores', false);
  const stores = body['stores'];
  if (stores !== undefined && (!Array.isArray(stores) || !stores.every((s): s is string => typeof s === 'string'))) {
    throw new InvalidInputError("'stores' must be a list of store ids");
  }
  const uri = fields['uri'];
  if (name === 'web-download' && (typeof uri !== 'string' || uri === '')) throw new InvalidInputError("Import method 'web-download' requires a 'uri'.");
  let remote: ImportRequest['remote'] = null;
  if (name === 'glance-download') {
    // Glance's checks of reference §9.3 step 4 (it runs them after the status checks; their
    // order is not something a client can see apart from a body with several faults).
    const region = fields['glance_region'];
    const imageId = fields['glance_image_id'];
    const serviceInterface = fields['glance_service_interface'] ?? 'public';
    if (typeof region !== 'string' || region === '') throw new InvalidInputError("Import method 'glance-download' requires 'glance_region'.");
    if (typeof imageId !== 'string' || imageId === '') throw new InvalidInputError("Import method 'glance-download' requires 'glance_image_id'.");
    if (!UUID.test(imageId)) throw new InvalidInputError(`Remote image id does not look like a UUID: ${imageId}`);
    if (typeof serviceInterface !== 'string' || !['public', 'internal', 'admin'].includes(serviceInterface)) {
      throw new InvalidInputError(`'glance_service_interface' must be public, internal or admin`);
    }
    remote = { region, imageId, serviceInterface };
  }
  return {
    method: name,
    uri: typeof uri === 'string' ? uri : null,
    remote,
    stores: stores === undefined ? null : stores,
    allStores,
    allStoresMustSucceed,
    body,
  };
}
