// The commented example config shipped beside /etc/rclone-migrate/config.json, generated from the one
// config schema so it can never drift from what the daemon accepts. JSON has no comments, so the example
// is JSONC for reading; config.json itself stays plain JSON.
import { settings } from '../shared/config.ts';

const HEADER = [
  '// rclone-migrate settings: every setting with its default. This file is documentation and is not read.',
  '// Copy what you change into /etc/rclone-migrate/config.json (plain JSON: no comments, no trailing commas).',
  '// Precedence: defaults < config file < environment variable < command-line flag.',
  '// Secrets (source keys) belong in Secrets Manager, not in this file: leave them empty.',
];

/** Every setting, grouped by section, each preceded by its doc, environment variable and flag. */
export function configExample(): string {
  const bySection = new Map<string, Array<{ name: string; lines: string[] }>>();
  for (const { path, leaf } of settings()) {
    const [section, name] = path.split('.');
    if (!section || !name) continue; // `config` (the file's own path) is not set inside the file
    const value = leaf.sensitive ? '' : leaf.default;
    const lines = [
      `    // ${leaf.doc}`,
      `    // env ${leaf.env}, flag --${leaf.arg}`,
      `    ${JSON.stringify(name)}: ${JSON.stringify(value)}`,
    ];
    const list = bySection.get(section) ?? [];
    list.push({ name, lines });
    bySection.set(section, list);
  }
  const sections = [...bySection].map(([section, entries]) => {
    const body = entries.map((e) => e.lines.join('\n')).join(',\n');
    return `  ${JSON.stringify(section)}: {\n${body}\n  }`;
  });
  return `${HEADER.join('\n')}\n{\n${sections.join(',\n')}\n}\n`;
}

/** The example as plain JSON (comments removed): what the tests load to prove it is accepted. */
export function stripLineComments(jsonc: string): string {
  return jsonc
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('//'))
    .join('\n');
}

/** The config.json the packages install: only what an operator must set, everything else defaulted. */
export const DEFAULT_CONFIG = { queue: { url: '' }, rclone: { children: 6 } };
