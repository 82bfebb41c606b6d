/**
 * S3 locations (reference §15.1): `s3://<host>/<bucket>/<image id>` (`s3+http://` for an http
 * endpoint). Glance writes the access and secret keys into the URL
 * (`s3://<access>:<secret>@<host>/…`); Glimpse never does, and reads such a location with the
 * keys it is configured with. An unfinished multipart upload is listed as
 * `…/<image id>?upload=<upload id>`, which `delete` aborts.
 */
export const IMAGE_KEY = /^[0-9A-Za-z][0-9A-Za-z-]{0,63}$/;

export interface S3Location {
  readonly host: string;
  readonly bucket: string;
  readonly key: string;
  /** The upload id of an unfinished multipart upload. */
  readonly uploadId: string | null;
}

/** The scheme Glance uses for an endpoint: s3+http for http, s3 for https. */
export function schemeOf(endpoint: string): string {
  return new URL(endpoint).protocol === 'http:' ? 's3+http' : 's3';
}

export function formatLocation(scheme: string, location: S3Location): string {
  const base = `${scheme}://${location.host}/${location.bucket}/${location.key}`;
  return location.uploadId === null ? base : `${base}?upload=${encodeURIComponent(location.uploadId)}`;
}

/** The parts of an s3, s3+http or s3+https location (credentials in it ignored), or null. */
export function parseLocation(url: string): S3Location | null {
  const match = /^s3(?:\+https?)?:\/\/(?:[^@/]*@)?([^/@]+)\/([^/?]+)\/([^/?]+)(?:\?upload=([^&]+))?$/.exec(url);
  if (match === null) return null;
  const [, host = '', bucket = '', key = '', upload] = match;
  if (!IMAGE_KEY.test(key)) return null;
  return { host, bucket, key, uploadId: upload === undefined ? null : decodeURIComponent(upload) };
}
