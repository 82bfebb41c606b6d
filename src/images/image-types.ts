import type { ImageStatus } from './image-status.js';

export const VISIBILITIES = ['public', 'community', 'shared', 'private'] as const;
export type Visibility = (typeof VISIBILITIES)[number];

export const MEMBER_STATUSES = ['pending', 'accepted', 'rejected'] as const;
export type MemberStatus = (typeof MEMBER_STATUSES)[number];

/** Reads a column back into one of `values`; anything else means the row was written by something else. */
export function oneOf<T extends string>(values: readonly T[], text: string, column: string): T {
  const value = values.find((v) => v === text);
  if (value === undefined) throw new Error(`${column} holds '${text}', which is not one of ${values.join(', ')}`);
  return value;
}

/** An image as the services see it: base attributes, extra properties and tags together. */
export interface Image {
  readonly id: string;
  readonly name: string | null;
  readonly status: ImageStatus;
  readonly visibility: Visibility;
  readonly protected: boolean;
  readonly osHidden: boolean;
  readonly checksum: string | null;
  readonly osHashAlgo: string | null;
  readonly osHashValue: string | null;
  readonly owner: string | null;
  readonly size: number | null;
  readonly virtualSize: number | null;
  readonly minRam: number;
  readonly minDisk: number;
  readonly diskFormat: string | null;
  readonly containerFormat: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly tags: readonly string[];
  readonly properties: Readonly<Record<string, string>>;
  /** Ids of the stores holding the data; filled only in multi-store mode. */
  readonly stores: readonly string[];
}

export interface ImageMember {
  readonly imageId: string;
  readonly memberId: string;
  readonly status: MemberStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** The base attributes a client may write (reference §2.2 "Allowed fields"). */
export interface WritableImageFields {
  name?: string | null;
  visibility?: Visibility;
  protected?: boolean;
  osHidden?: boolean;
  minRam?: number;
  minDisk?: number;
  diskFormat?: string | null;
  containerFormat?: string | null;
  owner?: string | null;
}
