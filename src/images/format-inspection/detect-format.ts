import type { ByteView, DetectedFormat, DetectionContext, FormatDetection, InspectionProblem } from './inspection-types.js';
import { detectIso } from './iso.js';
import { detectGpt, detectMbr } from './partition-table.js';
import { corruptDetection } from './problem-codes.js';
import { detectQcow2 } from './qcow2.js';
import { detectQed } from './qed.js';
import { detectVdi } from './vdi.js';
import { detectFixedVhd, detectVhd } from './vhd.js';
import { detectVhdx } from './vhdx.js';
import { detectVmdk } from './vmdk.js';

interface Detector {
  readonly format: DetectedFormat;
  readonly detect: (view: ByteView, context: DetectionContext) => FormatDetection | null;
}

/**
 * First match wins. Formats whose header sits at offset 0 and that a hypervisor would open with
 * their own driver come first, so a file that is, say, both a qcow2 and an ISO is reported as
 * the more dangerous qcow2. Then discs, then a fixed VHD (recognised from its trailing footer),
 * and last the partition tables that make a raw disk recognisable.
 */
const DETECTORS: readonly Detector[] = [
  { format: 'qcow2', detect: detectQcow2 },
  { format: 'qed', detect: detectQed },
  { format: 'vmdk', detect: detectVmdk },
  { format: 'vhdx', detect: detectVhdx },
  { format: 'vhd', detect: detectVhd },
  { format: 'vdi', detect: detectVdi },
  { format: 'iso', detect: detectIso },
  { format: 'vhd', detect: detectFixedVhd },
  { format: 'gpt', detect: detectGpt },
  { format: 'mbr', detect: detectMbr },
];

export function detectFormat(view: ByteView, context: DetectionContext): FormatDetection {
  for (const detector of DETECTORS) {
    let detection: FormatDetection | null;
    try {
      detection = detector.detect(view, context);
    } catch (error) {
      // Detectors bounds-check every read; this only keeps a bug from turning into a crash
      // (or an accepted image): the upload is refused as unreadable instead.
      return corruptDetection(detector.format, `internal inspection error: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (detection !== null) return { ...detection, problems: dedupe(detection.problems) };
  }
  return { format: 'raw', virtualSize: context.totalSize, problems: [], wants: [] };
}

function dedupe(problems: readonly InspectionProblem[]): readonly InspectionProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.code}\n${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
