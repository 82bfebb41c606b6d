import { ConfigError } from './config-error.js';

/**
 * oslo.config's INI dialect: `[section]`, `key = value` (or `key: value`), `#` and `;` comment
 * lines, continuation lines that start with whitespace, and the last of repeated keys wins.
 * Values are not unquoted and dots carry no meaning, unlike generic INI libraries.
 */
export interface IniValue {
  readonly value: string;
  readonly file: string;
  readonly line: number;
}

export type IniSections = Map<string, Map<string, IniValue>>;

export function parseIni(text: string, file: string): IniSections {
  const sections: IniSections = new Map();
  let current: Map<string, IniValue> | null = null;
  let lastKey: string | null = null;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    if (raw.trim() === '' || /^\s*[#;]/.test(raw)) {
      lastKey = null;
      return;
    }
    if (/^\s/.test(raw) && current !== null && lastKey !== null) {
      const previous = current.get(lastKey);
      if (previous !== undefined) current.set(lastKey, { ...previous, value: `${previous.value}\n${raw.trim()}` });
      return;
    }
    const header = /^\[([^\]]+)\]\s*$/.exec(raw.trim());
    if (header !== null) {
      const name = header[1]?.trim() ?? '';
      current = sections.get(name) ?? new Map<string, IniValue>();
      sections.set(name, current);
      lastKey = null;
      return;
    }
    const pair = /^([^=:\s][^=:]*?)\s*[=:]\s*(.*)$/.exec(raw.trim());
    if (pair === null) throw new ConfigError(`${file}:${lineNo}: cannot parse line: ${raw.trim()}`);
    if (current === null) throw new ConfigError(`${file}:${lineNo}: option outside of any [section]`);
    const key = pair[1] ?? '';
    current.set(key, { value: pair[2] ?? '', file, line: lineNo });
    lastKey = key;
  });
  return sections;
}
