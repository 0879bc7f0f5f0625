// `npm run package` on a fresh machine: which tools it needs, the command that installs them, and a
// real run on a PATH without rpmbuild (and without apt-get or dnf to install it): a clear message with
// the exact command, before any build step.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { installCommand, missingToolsMessage, neededTools } from '../../scripts/package-tools.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

t.test('the tools each build needs and the commands that install them', async (t) => {
  t.same(neededTools({ deb: true, rpm: true }), ['systemd-analyze', 'dpkg-deb', 'rpmbuild']);
  t.same(neededTools({ deb: true, rpm: false }), ['systemd-analyze', 'dpkg-deb']);
  t.equal(installCommand(['rpmbuild'], 'apt-get'), 'apt-get install -y --no-install-recommends rpm');
  t.equal(installCommand(['rpmbuild', 'systemd-analyze'], 'dnf'), 'dnf install -y rpm-build systemd');
  const message = missingToolsMessage(['rpmbuild'], 'installing them needs root');
  t.match(message, /missing rpmbuild \(for the \.rpm\); installing them needs root/);
  t.match(message, /sudo apt-get install -y --no-install-recommends rpm\n/);
  t.match(message, /sudo dnf install -y rpm-build\n/);
  t.match(message, /npm run package -- --skip-rpm$/);
});

function which(tool: string): string | undefined {
  const res = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  return res.status === 0 ? res.stdout.trim() : undefined;
}

t.test('without rpmbuild and no way to install it, the build stops at once saying what to run', async (t) => {
  const bin = mkdtempSync(join(tmpdir(), 'package-path-'));
  t.teardown(() => rmSync(bin, { recursive: true, force: true }));
  // Everything the build needs but rpmbuild (and no apt-get or dnf).
  for (const tool of ['sh', 'dpkg-deb', 'systemd-analyze']) {
    const path = which(tool);
    if (path) symlinkSync(path, join(bin, tool));
  }
  const res = spawnSync(process.execPath, [join(ROOT, 'scripts', 'package.ts')], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: bin, HOME: process.env.HOME },
  });
  t.equal(res.status, 1, 'exits 1');
  t.match(res.stderr, /missing rpmbuild \(for the \.rpm\); no apt-get or dnf here/);
  t.match(res.stderr, /apt-get install -y --no-install-recommends rpm/, 'the Debian command');
  t.match(res.stderr, /--skip-rpm/, 'the way round it');
  t.notMatch(res.stdout, /== bundle/, 'before any build step');
});
