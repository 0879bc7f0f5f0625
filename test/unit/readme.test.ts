// The README's configuration and metrics references are generated from the code; this fails when
// someone adds a setting or a metric without regenerating them (node scripts/docs-reference.ts).
import { readFileSync } from 'node:fs';
import t from 'tap';
import { renderReadme } from '../../scripts/docs-reference.ts';

t.test('README references match the schema and the metrics registry', async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  t.equal(await renderReadme(readme), readme);
  t.match(readme, /`--queue-url`/);
  t.match(readme, /`rclone_migrate_objects_copied_total`/);
});
