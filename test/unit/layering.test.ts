// The folders are layers: `shared/` is what every program is built on and imports none of them; the
// worker (`daemon/`) and the lister (`lister/`) import `shared/` only; the operator commands (`ops/`)
// are built on the lister (verify reuses its listing merge, status reads its manifests); the subcommand
// dispatch (`cli/`) sits above all of them, and the entries (`bin/`, packaging/sea-entry.ts) load it.
// This reads every import of every source file, type-only ones included, and fails on one that points
// up or sideways.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), '..', '..'));

/** Which top-level folders the files of each layer may import (files at the root, package.json, are always allowed). */
export const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  shared: ['shared'],
  daemon: ['shared', 'daemon'],
  lister: ['shared', 'lister'],
  ops: ['shared', 'lister', 'ops'],
  cli: ['shared', 'daemon', 'lister', 'ops', 'cli'],
  bin: ['cli', 'bin'],
};

/** Relative module specifiers of static imports, re-exports and dynamic imports in a source text. */
export function importSpecifiers(source: string): string[] {
  const out: string[] = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;
  for (const match of source.matchAll(pattern)) out.push(match[1] as string);
  return out;
}

/** The imports of one file (path relative to the root) that its layer does not allow, as "file -> target". */
export function violations(file: string, source: string): string[] {
  const layer = file.split('/')[0] as string;
  const allowed = file === 'packaging/sea-entry.ts' ? ALLOWED.bin : ALLOWED[layer];
  if (!allowed) return [];
  return importSpecifiers(source)
    .map((spec) =>
      relative(ROOT, join(ROOT, dirname(file), spec))
        .split('\\')
        .join('/'),
    )
    .filter((target) => target.includes('/') && !allowed.includes(target.split('/')[0] as string))
    .map((target) => `${file} -> ${target}`);
}

function sourceFiles(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => `${folder}/${name.split('\\').join('/')}`);
}

t.test('the check sees the imports that would break the layering', async (t) => {
  t.same(
    importSpecifiers(
      "import type { A } from '../daemon/a.ts';\nimport '../lister/side-effect.ts';\n" +
        "export { b } from './b.ts';\nconst c = await import('../ops/c.ts');\nimport { d } from 'node:fs';",
    ),
    ['../daemon/a.ts', '../lister/side-effect.ts', './b.ts', '../ops/c.ts'],
  );
  t.same(violations('shared/x.ts', "import { w } from '../daemon/worker.ts';"), ['shared/x.ts -> daemon/worker.ts']);
  t.same(violations('shared/x.ts', "const m = await import('../cli/main.ts');"), ['shared/x.ts -> cli/main.ts']);
  t.same(violations('lister/x.ts', "import type { Q } from '../daemon/queue.ts';"), ['lister/x.ts -> daemon/queue.ts']);
  t.same(violations('daemon/x.ts', "import { s } from '../ops/status.ts';"), ['daemon/x.ts -> ops/status.ts']);
  t.same(violations('ops/x.ts', "import { w } from '../daemon/worker.ts';"), ['ops/x.ts -> daemon/worker.ts']);
  t.same(violations('shared/version.ts', "import pkg from '../package.json' with { type: 'json' };"), []);
  t.same(violations('ops/x.ts', "import { r } from '../lister/run.ts';\nimport { y } from './y.ts';"), []);
  t.same(violations('packaging/sea-entry.ts', "import { w } from '../daemon/worker.ts';"), [
    'packaging/sea-entry.ts -> daemon/worker.ts',
  ]);
});

t.test('no file imports a layer above or beside its own', async (t) => {
  const files = [...Object.keys(ALLOWED).flatMap(sourceFiles), 'packaging/sea-entry.ts'];
  t.ok(files.length > 40, `found the source files (${files.length})`);
  t.ok(files.includes('ops/verify.ts') && files.includes('cli/main.ts'), 'the operator commands and the dispatch');
  const found = files.flatMap((file) => violations(file, readFileSync(join(ROOT, file), 'utf8')));
  t.same(found, [], 'imports that break the layering');
});
