/**
 * The VMDK text descriptor (VMware "Virtual Disk Format 1.1", section "The Descriptor File"):
 * `key=value` lines such as `createType="monolithicSparse"`, and extent lines
 * `ACCESS SIZE TYPE "FILENAME" [OFFSET]`, e.g. `RW 2048 FLAT "disk-flat.vmdk" 0`.
 */

export interface VmdkExtent {
  /** RW, RDONLY or NOACCESS. */
  readonly access: string;
  /** Extent size in 512-byte sectors, or null if the line does not give a usable number. */
  readonly sectors: number | null;
  /** SPARSE, FLAT, ZERO, VMFS, VMFSSPARSE, VMFSRDM, VMFSRAW, SESPARSE... (upper-cased). */
  readonly type: string;
  readonly fileName: string | null;
}

export interface VmdkDescriptor {
  readonly createType: string | null;
  readonly extents: readonly VmdkExtent[];
  /**
   * Set when the text names a parent disk: a delta disk on top of another file. The value is
   * what follows the key (possibly malformed); only `parentFileNameHint=""` counts as no parent.
   */
  readonly parentFileNameHint: string | null;
}

const EXTENT_LINE = /^(RW|RDONLY|NOACCESS)\s+(\S+)(?:\s+(\S+))?(?:\s+"([^"]*)")?/i;
const KEY_VALUE = /^([A-Za-z][\w.]*)\s*=\s*(.*)$/;
const PARENT_HINT_KEY = 'parentFileNameHint';

/** Bytes of a descriptor as text: it ends at the first NUL (the sector padding). */
export function descriptorText(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.toString('latin1', 0, end === -1 ? bytes.length : end);
}

export function parseVmdkDescriptor(text: string): VmdkDescriptor {
  let createType: string | null = null;
  const extents: VmdkExtent[] = [];
  for (const rawLine of text.split(/\r?\n|\r/)) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const extent = EXTENT_LINE.exec(line);
    if (extent !== null) {
      const [, access = '', size = '', type = '', fileName] = extent;
      const sectors = /^\d+$/.test(size) ? Number(size) : null;
      extents.push({
        access: access.toUpperCase(),
        sectors: sectors !== null && Number.isSafeInteger(sectors) ? sectors : null,
        type: type.toUpperCase(),
        fileName: fileName ?? null,
      });
      continue;
    }
    const pair = KEY_VALUE.exec(line);
    if (pair?.[1] === 'createType') createType = unquote(pair[2] ?? '');
  }
  return { createType, extents, parentFileNameHint: findParentHint(text) };
}

/**
 * Looks for the parent hint anywhere in the text, not only on well-formed lines: a reader that
 * searches the raw descriptor for the key would find it inside a comment too.
 */
export function findParentHint(text: string): string | null {
  let from = 0;
  for (;;) {
    const at = text.indexOf(PARENT_HINT_KEY, from);
    if (at === -1) return null;
    const rest = text.slice(at + PARENT_HINT_KEY.length, at + PARENT_HINT_KEY.length + 256);
    if (!rest.startsWith('=""')) return rest.split(/[\r\n]/, 1)[0] ?? '';
    from = at + PARENT_HINT_KEY.length;
  }
}

function unquote(value: string): string {
  const trimmed = value.trim();
  const quoted = /^"([^"]*)"/.exec(trimmed);
  return quoted?.[1] ?? trimmed;
}
