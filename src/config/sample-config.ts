import { OPTIONS, type OptionValue } from './options.js';

function show(value: OptionValue): string {
  if (value === null) return '<None>';
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

/** A commented glance-api.conf with every option Glimpse reads, rendered from the option table. */
export function renderSampleConfig(): string {
  const lines: string[] = [];
  let section = '';
  for (const option of OPTIONS) {
    if (option.section !== section) {
      section = option.section;
      lines.push(lines.length === 0 ? `[${section}]` : `\n[${section}]`);
    }
    lines.push(`\n# ${option.help}`, `#${option.name} = ${show(option.default)}`);
  }
  return `${lines.join('\n')}\n`;
}
