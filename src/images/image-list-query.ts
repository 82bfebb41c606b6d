import { InvalidInputError } from '../errors/domain-errors.js';
import { MEMBER_STATUSES, VISIBILITIES, type MemberStatus, type Visibility } from './image-types.js';

/**
 * Parses the query string of `GET /v2/images` into a ListQuery, with Glance's rules and messages
 * (reference §2.4). Pure: no database, so every rule is unit-testable.
 */

export const SORT_KEYS = ['name', 'status', 'container_format', 'disk_format', 'size', 'id', 'created_at', 'updated_at'] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export type SortDir = 'asc' | 'desc';
export interface SortSpec {
  readonly key: SortKey;
  readonly dir: SortDir;
}

/** Columns a plain `?column=value` filter may name (equality, or `in:`/`eq:` for the first five). */
export const OPERATOR_COLUMNS = ['name', 'id', 'status', 'container_format', 'disk_format'] as const;
export const EQUALITY_COLUMNS = ['checksum', 'os_hash_algo', 'os_hash_value', 'owner', 'min_ram', 'min_disk', 'size', 'virtual_size'] as const;
export const RANGE_COLUMNS = ['size', 'virtual_size', 'min_ram', 'min_disk'] as const;
export const TIME_COLUMNS = ['created_at', 'updated_at'] as const;

export type FilterColumn = (typeof OPERATOR_COLUMNS)[number] | (typeof EQUALITY_COLUMNS)[number];
export type RangeColumn = (typeof RANGE_COLUMNS)[number];
export type TimeColumn = (typeof TIME_COLUMNS)[number];
export type TimeOp = 'gt' | 'gte' | 'lt' | 'lte' | 'eq' | 'neq';

export type ColumnFilter = { readonly column: FilterColumn; readonly values: readonly string[] };
export type RangeFilter = { readonly column: RangeColumn; readonly bound: 'min' | 'max'; readonly value: number };
export type TimeFilter = { readonly column: TimeColumn; readonly op: TimeOp; readonly at: Date };

export interface ListQuery {
  readonly limit: number;
  readonly marker: string | null;
  /** Sort order including the created_at and id tie-breakers. */
  readonly sort: readonly SortSpec[];
  readonly visibility: Visibility | 'all' | null;
  readonly memberStatus: MemberStatus | 'all';
  readonly osHidden: boolean;
  readonly protected: boolean | null;
  readonly tags: readonly string[];
  readonly columns: readonly ColumnFilter[];
  readonly ranges: readonly RangeFilter[];
  readonly times: readonly TimeFilter[];
  readonly properties: ReadonlyMap<string, string>;
}

export interface ListLimits {
  readonly limitParamDefault: number;
  readonly apiLimitMax: number;
}

/** Query parameters as received: a name may repeat (`tag`, `sort_key`, `sort_dir`). */
export type QueryParams = ReadonlyMap<string, readonly string[]>;

const CONTROL_PARAMS = new Set(['limit', 'marker', 'sort_key', 'sort_dir', 'sort', 'member_status', 'visibility', 'os_hidden', 'protected', 'tag']);

function single(params: QueryParams, name: string): string | undefined {
  const values = params.get(name);
  return values === undefined ? undefined : values[values.length - 1];
}

function parseLimit(raw: string | undefined, limits: ListLimits): number {
  if (raw === undefined) return Math.min(limits.limitParamDefault, limits.apiLimitMax);
  if (!/^[+-]?\d+$/.test(raw.trim())) throw new InvalidInputError('limit param must be an integer');
  const limit = Number(raw);
  if (limit < 0) throw new InvalidInputError('limit param must be positive');
  // Values above api_limit_max are capped silently (reference §2.4).
  return Math.min(limit, limits.apiLimitMax);
}

function parseSortKey(key: string): SortKey {
  const found = SORT_KEYS.find((k) => k === key);
  if (found === undefined) {
    throw new InvalidInputError(`Invalid sort key: ${key}. It must be one of the following: ${SORT_KEYS.join(', ')}.`);
  }
  return found;
}

function parseSortDir(dir: string): SortDir {
  if (dir === 'asc' || dir === 'desc') return dir;
  throw new InvalidInputError(`Invalid sort direction: ${dir}`);
}

function parseSort(params: QueryParams): SortSpec[] {
  const keys = params.get('sort_key') ?? [];
  const dirs = params.get('sort_dir') ?? [];
  const combined = params.get('sort');
  let sort: SortSpec[];
  if (combined !== undefined) {
    if (keys.length > 0 || dirs.length > 0) throw new InvalidInputError('Old and new sorting syntax cannot be combined');
    sort = combined
      .join(',')
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part !== '')
      .map((part) => {
        const [key = '', dir, ...rest] = part.split(':');
        if (rest.length > 0) throw new InvalidInputError(`Invalid sort direction: ${part}`);
        return { key: parseSortKey(key.trim()), dir: dir === undefined ? 'desc' : parseSortDir(dir.trim()) };
      });
  } else {
    if (dirs.length > 1 && dirs.length !== keys.length) {
      throw new InvalidInputError('Number of sort dirs does not match the number of sort keys');
    }
    const parsedDirs = dirs.map(parseSortDir);
    sort = keys.map((key, i) => ({ key: parseSortKey(key), dir: parsedDirs.length === 1 ? (parsedDirs[0] ?? 'desc') : (parsedDirs[i] ?? 'desc') }));
    if (keys.length === 0 && parsedDirs.length === 1) sort = [{ key: 'created_at', dir: parsedDirs[0] ?? 'desc' }];
  }
  if (sort.length === 0) sort = [{ key: 'created_at', dir: 'desc' }];
  // created_at and id are always appended as tie-breakers, in the first direction (reference §2.4).
  const tieDir = sort[0]?.dir ?? 'desc';
  for (const key of ['created_at', 'id'] as const) {
    if (!sort.some((s) => s.key === key)) sort.push({ key, dir: tieDir });
  }
  return sort;
}

/**
 * Splits an `in:` list on commas; a value holding a comma is double-quoted (reference §2.4).
 */
export function splitInList(raw: string): string[] {
  const values: string[] = [];
  let i = 0;
  while (i <= raw.length) {
    if (raw[i] === '"') {
      const end = raw.indexOf('"', i + 1);
      if (end === -1) throw new InvalidInputError('Invalid filter value ' + raw + '. The quote is not closed.');
      values.push(raw.slice(i + 1, end));
      i = end + 1;
      if (i < raw.length && raw[i] !== ',') {
        throw new InvalidInputError('Invalid filter value ' + raw + '. There is no comma after closing quotation mark.');
      }
      i += 1;
      continue;
    }
    const end = raw.indexOf(',', i);
    const piece = end === -1 ? raw.slice(i) : raw.slice(i, end);
    if (piece.includes('"')) {
      throw new InvalidInputError('Invalid filter value ' + raw + '. There is no comma before opening quotation mark.');
    }
    values.push(piece);
    if (end === -1) break;
    i = end + 1;
  }
  return values;
}

function parseOperatorValue(column: FilterColumn, raw: string): ColumnFilter {
  const colon = raw.indexOf(':');
  if (colon === -1) return { column, values: [raw] };
  const op = raw.slice(0, colon);
  const rest = raw.slice(colon + 1);
  if (op === 'in') return { column, values: splitInList(rest) };
  if (op === 'eq') return { column, values: [rest] };
  throw new InvalidInputError(`Unable to filter by unknown operator '${op}'.`);
}

function parseBoolean(raw: string, name: string, caseSensitive: boolean): boolean {
  const value = caseSensitive ? raw : raw.toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidInputError(`Invalid value '${raw}' for '${name}' filter. Valid values are 'true' or 'false'.`);
}

/** ISO 8601 date-time, optionally without seconds or zone (UTC assumed), as Glance's parser allows. */
function parseIsoTime(raw: string, column: TimeColumn): Date {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(raw.trim());
  const bad = new InvalidInputError(`Bad "${column}" query filter format. Use ISO 8601 DateTime notation.`);
  if (match === null) throw bad;
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '0', zone = 'Z'] = match;
  const zoneText = zone === 'Z' ? 'Z' : zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const date = new Date(`${y ?? ''}-${mo ?? ''}-${d ?? ''}T${h}:${mi}:${s}.${frac.padEnd(3, '0').slice(0, 3)}${zoneText}`);
  if (Number.isNaN(date.getTime())) throw bad;
  return date;
}

function parseTimeFilter(column: TimeColumn, raw: string): TimeFilter {
  const match = /^(gt|gte|lt|lte|eq|neq|[a-z]+):(.*)$/.exec(raw);
  if (match === null) return { column, op: 'eq', at: parseIsoTime(raw, column) };
  const [, op = '', rest = ''] = match;
  if (op !== 'gt' && op !== 'gte' && op !== 'lt' && op !== 'lte' && op !== 'eq' && op !== 'neq') {
    // "2020-01-01T10:00:00" also matches the regex when the op is digits; digits never reach here.
    throw new InvalidInputError('Unable to filter on a unknown operator.');
  }
  return { column, op, at: parseIsoTime(rest, column) };
}

function parseRange(column: RangeColumn, bound: 'min' | 'max', raw: string): RangeFilter {
  if (!/^\s*[+-]?\d+\s*$/.test(raw)) throw new InvalidInputError('Unable to filter on a range with a non-numeric value.');
  // Sizes stay far below 2^53, so clamping keeps the meaning and keeps BIGINT comparisons valid.
  const value = Math.max(-Number.MAX_SAFE_INTEGER, Math.min(Number.MAX_SAFE_INTEGER, Number(raw)));
  return { column, bound, value };
}

export function parseListQuery(params: QueryParams, limits: ListLimits): ListQuery {
  // PostgreSQL text cannot hold NUL; no stored value contains one, so refuse rather than fail.
  for (const [name, values] of params) {
    if (name.includes('\u0000') || values.some((v) => v.includes('\u0000')))
      throw new InvalidInputError(`Invalid value for filter '${name.replaceAll('\u0000', '')}'.`);
  }
  if (params.has('changes-since')) throw new InvalidInputError('The "changes-since" filter is no longer available on v2.');

  const visibilityRaw = single(params, 'visibility');
  let visibility: Visibility | 'all' | null = null;
  if (visibilityRaw !== undefined) {
    const found = [...VISIBILITIES, 'all' as const].find((v) => v === visibilityRaw);
    if (found === undefined) throw new InvalidInputError(`Invalid visibility value: ${visibilityRaw}`);
    visibility = found;
  }

  const memberStatusRaw = single(params, 'member_status') ?? 'accepted';
  const memberStatus = [...MEMBER_STATUSES, 'all' as const].find((s) => s === memberStatusRaw);
  if (memberStatus === undefined) throw new InvalidInputError(`Invalid status: ${memberStatusRaw}`);

  const osHiddenRaw = single(params, 'os_hidden');
  const protectedRaw = single(params, 'protected');

  const columns: ColumnFilter[] = [];
  const ranges: RangeFilter[] = [];
  const times: TimeFilter[] = [];
  const properties = new Map<string, string>();
  for (const [name, values] of params) {
    if (CONTROL_PARAMS.has(name)) continue;
    const raw = values[values.length - 1] ?? '';
    const operatorColumn = OPERATOR_COLUMNS.find((c) => c === name);
    const equalityColumn = EQUALITY_COLUMNS.find((c) => c === name);
    const timeColumn = TIME_COLUMNS.find((c) => c === name);
    const rangeMatch = /^(.*)_(min|max)$/.exec(name);
    const rangeColumn = RANGE_COLUMNS.find((c) => c === rangeMatch?.[1]);
    if (operatorColumn !== undefined) columns.push(parseOperatorValue(operatorColumn, raw));
    else if (equalityColumn !== undefined) columns.push({ column: equalityColumn, values: [raw] });
    else if (timeColumn !== undefined) times.push(parseTimeFilter(timeColumn, raw));
    else if (rangeColumn !== undefined && rangeMatch !== null) ranges.push(parseRange(rangeColumn, rangeMatch[2] === 'min' ? 'min' : 'max', raw));
    else properties.set(name, raw);
  }

  return {
    limit: parseLimit(single(params, 'limit'), limits),
    marker: single(params, 'marker') ?? null,
    sort: parseSort(params),
    visibility,
    memberStatus,
    osHidden: osHiddenRaw === undefined ? false : parseBoolean(osHiddenRaw, 'os_hidden', false),
    protected: protectedRaw === undefined ? null : parseBoolean(protectedRaw, 'protected', true),
    tags: params.get('tag') ?? [],
    columns,
    ranges,
    times,
    properties,
  };
}
