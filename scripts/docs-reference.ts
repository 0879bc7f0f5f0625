// Writes the configuration and metrics references into README.md from the schema and the metrics
// registry, so the documentation cannot drift from the code. `--check` fails if README is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { settings } from '../shared/config.ts';
import { createMetrics } from '../daemon/metrics.ts';

const README = fileURLToPath(new URL('../README.md', import.meta.url));

export function configReference(): string {
  const rows = settings().map(({ path, leaf }) => {
    const def = leaf.sensitive ? '(secret)' : `\`${JSON.stringify(leaf.default)}\``;
    return `| \`${path}\` | \`--${leaf.arg}\` | \`${leaf.env}\` | ${def} | ${leaf.doc.replaceAll('|', '\\|')} |`;
  });
  return ['| setting | flag | environment | default | meaning |', '| --- | --- | --- | --- | --- |', ...rows].join(
    '\n',
  );
}

export async function metricsReference(): Promise<string> {
  const metrics = createMetrics();
  const all = await metrics.registry.getMetricsAsJSON();
  const ours = all.filter((m) => !isDefault(m.name));
  const rows = ours.map((m) => {
    const labels = (m.values[0]?.labels ? Object.keys(m.values[0].labels) : []).filter((l) => l !== 'le');
    return `| \`${m.name}\` | ${m.type} | ${labels.map((l) => `\`${l}\``).join(', ')} | ${m.help} |`;
  });
  return ['| metric | type | labels | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** prom-client's default process and Node.js metrics. */
function isDefault(name: string): boolean {
  return /^rclone_migrate_(process_|nodejs_)/.test(name);
}

function splice(text: string, marker: string, body: string): string {
  const start = `<!-- ${marker}:start -->`;
  const end = `<!-- ${marker}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a === -1 || b === -1) throw new Error(`README.md lacks the ${marker} markers`);
  return `${text.slice(0, a + start.length)}\n${body}\n${text.slice(b)}`;
}

export async function renderReadme(text: string): Promise<string> {
  return splice(splice(text, 'config-reference', configReference()), 'metrics-reference', await metricsReference());
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const current = readFileSync(README, 'utf8');
  const next = await renderReadme(current);
  if (process.argv.includes('--check')) {
    if (next !== current) {
      console.error('README.md references are stale: run `node scripts/docs-reference.ts`');
      process.exitCode = 1;
    }
  } else {
    writeFileSync(README, next);
  }
}
