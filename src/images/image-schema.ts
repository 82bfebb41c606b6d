import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { InvalidInputError } from '../errors/domain-errors.js';
import { IMAGE_STATUSES } from './image-status.js';
import { MEMBER_STATUSES, VISIBILITIES } from './image-types.js';

/**
 * The image schemas Glance publishes under /v2/schemas (reference §4). The same objects are served
 * to clients and compiled with Ajv to validate create bodies and patch values, so what a client
 * reads is exactly what the server enforces.
 */

export type JsonSchema = Readonly<Record<string, unknown>>;

export interface ImageSchemaOptions {
  readonly diskFormats: readonly string[];
  readonly containerFormats: readonly string[];
  /** `allow_additional_image_properties` (reference §4): extra string properties allowed. */
  readonly allowAdditionalProperties: boolean;
}

const UUID_PATTERN = '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$';

function nullableEnum(values: readonly string[]): JsonSchema {
  return { type: ['null', 'string'], enum: [null, ...values] };
}

/** Base attributes. `readOnly` ones are refused on write before schema validation runs. */
function baseProperties(options: ImageSchemaOptions): Record<string, JsonSchema> {
  return {
    id: { type: 'string', description: 'An identifier for the image', pattern: UUID_PATTERN },
    name: { type: ['null', 'string'], description: 'Descriptive name for the image', maxLength: 255 },
    status: { type: 'string', readOnly: true, description: 'Status of the image', enum: [...IMAGE_STATUSES] },
    visibility: { type: 'string', description: 'Scope of image accessibility', enum: [...VISIBILITIES] },
    protected: { type: 'boolean', description: 'If true, image will not be deletable.' },
    os_hidden: { type: 'boolean', description: 'If true, image will not appear in default image list response.' },
    checksum: { type: ['null', 'string'], readOnly: true, description: 'md5 hash of image contents.', maxLength: 32 },
    os_hash_algo: { type: ['null', 'string'], readOnly: true, description: 'Algorithm to calculate the os_hash_value', maxLength: 64 },
    os_hash_value: {
      type: ['null', 'string'],
      readOnly: true,
      description: 'Hexdigest of the image contents using the algorithm in os_hash_algo.',
      maxLength: 128,
    },
    owner: { type: ['null', 'string'], description: 'Owner of the image', maxLength: 255 },
    size: { type: ['null', 'integer'], readOnly: true, description: 'Size of image file in bytes' },
    virtual_size: { type: ['null', 'integer'], readOnly: true, description: 'Virtual size of image in bytes' },
    container_format: { ...nullableEnum(options.containerFormats), description: 'Format of the container' },
    disk_format: { ...nullableEnum(options.diskFormats), description: 'Format of the disk' },
    created_at: { type: 'string', readOnly: true, description: 'Date and time of image registration' },
    updated_at: { type: 'string', readOnly: true, description: 'Date and time of the last image modification' },
    tags: { type: 'array', description: 'List of strings related to the image', items: { type: 'string', maxLength: 255 } },
    direct_url: { type: 'string', readOnly: true, description: 'URL to access the image file kept in external store' },
    min_ram: { type: 'integer', description: 'Amount of ram (in MB) required to boot image.' },
    min_disk: { type: 'integer', description: 'Amount of disk space (in GB) required to boot image.' },
    self: { type: 'string', readOnly: true, description: 'An image self url' },
    file: { type: 'string', readOnly: true, description: 'An image file url' },
    stores: { type: 'string', readOnly: true, description: 'Store in which image data resides.' },
    schema: { type: 'string', readOnly: true, description: 'An image schema url' },
    locations: {
      type: 'array',
      description: 'A set of URLs to access the image file kept in external store',
      items: {
        type: 'object',
        properties: {
          url: { type: 'string', maxLength: 255 },
          metadata: { type: 'object' },
          validation_data: {
            type: 'object',
            writeOnly: true,
            additionalProperties: false,
            properties: {
              checksum: { type: 'string', minLength: 32, maxLength: 32 },
              os_hash_algo: { type: 'string', maxLength: 64 },
              os_hash_value: { type: 'string', maxLength: 128 },
            },
            required: ['os_hash_algo', 'os_hash_value'],
          },
        },
        required: ['url', 'metadata'],
      },
    },
  };
}

/**
 * Well-known properties that a stock Glance install adds from its schema-image.json (reference §4,
 * "Custom schema properties"); Nova and the CLIs rely on kernel_id/ramdisk_id being UUIDs.
 */
function customProperties(): Record<string, JsonSchema> {
  const text = (description: string): JsonSchema => ({ type: 'string', description, is_base: false });
  return {
    kernel_id: {
      type: ['null', 'string'],
      pattern: UUID_PATTERN,
      description: 'ID of image stored in Glance that should be used as the kernel when booting an AMI-style image.',
      is_base: false,
    },
    ramdisk_id: {
      type: ['null', 'string'],
      pattern: UUID_PATTERN,
      description: 'ID of image stored in Glance that should be used as the ramdisk when booting an AMI-style image.',
      is_base: false,
    },
    instance_uuid: text(
      'Metadata which can be used to record which instance this image is associated with. (Informational only, does not create an instance snapshot.)',
    ),
    architecture: text('Operating system architecture as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html'),
    os_distro: text(
      'Common name of operating system distribution as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html',
    ),
    os_version: text('Operating system version as specified by the distributor.'),
    description: text('A human-readable string describing this image.'),
    cinder_encryption_key_id: text(
      'Identifier in the OpenStack Key Management Service for the encryption key for the Block Storage Service to use when mounting a volume created from this image',
    ),
    cinder_encryption_key_deletion_policy: {
      type: 'string',
      enum: ['on_image_deletion', 'do_not_delete'],
      description: 'States the condition under which the Image Service will delete the object associated with the cinder_encryption_key_id image property.',
      is_base: false,
    },
  };
}

export const BASE_ATTRIBUTES: ReadonlySet<string> = new Set(
  Object.keys(baseProperties({ diskFormats: [], containerFormats: [], allowAdditionalProperties: true })),
);

export function imageSchema(options: ImageSchemaOptions): JsonSchema {
  const schema: Record<string, unknown> = {
    name: 'image',
    properties: { ...baseProperties(options), ...customProperties() },
    additionalProperties: options.allowAdditionalProperties ? { type: 'string' } : false,
  };
  if (options.allowAdditionalProperties) {
    schema['links'] = [
      { rel: 'self', href: '{self}' },
      { rel: 'enclosure', href: '{file}' },
      { rel: 'describedby', href: '{schema}' },
    ];
  }
  return schema;
}

export function imagesSchema(options: ImageSchemaOptions): JsonSchema {
  return {
    name: 'images',
    properties: {
      images: { type: 'array', items: imageSchema(options) },
      schema: { type: 'string' },
      first: { type: 'string' },
      next: { type: 'string' },
    },
    links: [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}

export function memberSchema(): JsonSchema {
  return {
    name: 'member',
    properties: {
      created_at: { type: 'string', description: 'Date and time of image member creation' },
      image_id: { type: 'string', description: 'An identifier for the image', pattern: UUID_PATTERN },
      member_id: { type: 'string', description: 'An identifier for the image member (tenantId)' },
      status: { type: 'string', description: 'The status of this image member', enum: [...MEMBER_STATUSES] },
      updated_at: { type: 'string', description: 'Date and time of last modification of image member' },
      schema: { type: 'string', readOnly: true },
    },
  };
}

export function membersSchema(): JsonSchema {
  return {
    name: 'members',
    properties: { members: { type: 'array', items: memberSchema() }, schema: { type: 'string' } },
    links: [{ rel: 'describedby', href: '{schema}' }],
  };
}

/** Compiled validator for image bodies; errors carry Glance's 400 message (reference §2.2 step 2). */
export class ImageSchemaValidator {
  readonly #validate: ValidateFunction;

  constructor(readonly schema: JsonSchema) {
    const ajv = new Ajv({ strict: false, allErrors: false });
    // Annotations Glance's schema carries that are not JSON Schema keywords.
    ajv.addKeyword({ keyword: 'is_base' });
    const { links: _links, name: _name, ...validatable } = schema;
    this.#validate = ajv.compile(validatable);
  }

  /** Throws InvalidInputError when `value` does not match the image schema. */
  check(value: unknown): void {
    if (this.#validate(value)) return;
    const error = this.#validate.errors?.[0];
    throw new InvalidInputError(`Provided object does not match schema 'image': ${describeSchemaError(error, value)}`);
  }
}

function pick(value: unknown, instancePath: string): unknown {
  let current = value;
  for (const segment of instancePath.split('/').slice(1)) {
    const key = segment.replaceAll('~1', '/').replaceAll('~0', '~');
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function pyRepr(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return JSON.stringify(value);
}

/** Words the reason like Python's jsonschema does, since that is what Glance users have seen. */
function describeSchemaError(error: ErrorObject | undefined, root: unknown): string {
  if (error === undefined) return 'invalid';
  const value = pick(root, error.instancePath);
  const where =
    error.instancePath === '' ? '' : `\n\nFailed validating '${error.keyword}' in schema['properties']['${error.instancePath.split('/')[1] ?? ''}']`;
  switch (error.keyword) {
    case 'enum': {
      const allowed = (error.params as { allowedValues?: unknown[] }).allowedValues ?? [];
      return `${pyRepr(value)} is not one of [${allowed.map(pyRepr).join(', ')}]${where}`;
    }
    case 'type':
      return `${pyRepr(value)} is not of type ${String((error.params as { type?: unknown }).type)
        .split(',')
        .map((t) => `'${t}'`)
        .join(', ')}${where}`;
    case 'maxLength':
      return `${pyRepr(value)} is too long${where}`;
    case 'minLength':
      return `${pyRepr(value)} is too short${where}`;
    case 'pattern':
      return `${pyRepr(value)} does not match '${String((error.params as { pattern?: unknown }).pattern)}'${where}`;
    case 'additionalProperties':
      return `Additional properties are not allowed ('${String((error.params as { additionalProperty?: unknown }).additionalProperty)}' was unexpected)`;
    default:
      return `${error.instancePath} ${error.message ?? 'is invalid'}`;
  }
}
