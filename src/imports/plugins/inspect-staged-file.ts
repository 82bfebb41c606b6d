import { createReadStream } from 'node:fs';
import { FormatInspector, type InspectionResult } from '../../images/format-inspection/format-inspector.js';
import { checkDeclaredFormat, type FormatPolicyOptions } from '../../images/format-inspection/format-policy.js';
import { ProblemCode } from '../../images/format-inspection/problem-codes.js';
import { ImportPluginError } from './import-plugin-error.js';

export interface FileInspection {
  readonly result: InspectionResult;
  /** Bytes read, which is the file's size. */
  readonly size: number;
}

/**
 * Streams a whole file through the format inspector, the same parser uploads go through
 * (src/images/format-inspection/). The whole file, not just its head: a fixed VHD's footer is
 * its last 512 bytes, and the inspector only trusts a tail it has seen arrive.
 */
export async function inspectFile(path: string, signal: AbortSignal): Promise<FileInspection> {
  const inspector = new FormatInspector();
  for await (const chunk of createReadStream(path, { signal, highWaterMark: 1024 * 1024 })) inspector.push(chunk as Buffer);
  return { result: inspector.result(inspector.bytesSeen), size: inspector.bytesSeen };
}

/**
 * Refuses a file the inspector judged unsafe or not `diskFormat`, with every reason in the
 * message. Format matching is always on here, whatever `require_image_format_match` says: the
 * file is about to be handed to qemu-img with the declared driver (reference §9.7).
 */
export function requireInspectionPass(
  plugin: string,
  inspection: FileInspection,
  diskFormat: string,
  vmdkAllowedTypes: readonly string[],
  what: string,
): InspectionResult {
  const policy: FormatPolicyOptions = { requireImageFormatMatch: true, vmdkAllowedTypes };
  const problems = checkDeclaredFormat(inspection.result, diskFormat, policy);
  if (problems.length === 0) return inspection.result;
  const onlyMismatch = problems.every((p) => p.code === ProblemCode.formatMismatch);
  const reasons = problems.map((p) => `${p.message} (${p.code})`).join('; ');
  throw new ImportPluginError(plugin, onlyMismatch ? 'FORMAT_MISMATCH' : 'UNSAFE_IMAGE', `${what} failed format inspection: ${reasons}`);
}
