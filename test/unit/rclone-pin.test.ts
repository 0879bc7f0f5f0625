// The pinned rclone's fetch finds the Debian mirror in the machine's own apt sources (never a host of
// ours), in both formats apt reads, and skips security and third-party archives.
import t from 'tap';
import { debianMirror, pinnedRcloneBinary, RCLONE_PIN } from '../../scripts/rclone-pin.ts';

void t.test('deb822 sources: the archive stanza, not security, not a third-party key', async (t) => {
  const sources = [
    'Types: deb\nURIs: https://apt.example.org/vendor\nSuites: stable\nComponents: main\nSigned-By: /usr/share/keyrings/vendor.gpg\n',
    [
      'Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
      'Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    ].join('\n'),
  ];
  t.equal(debianMirror(sources), 'http://mirror.example/debian');
});

void t.test('one-line sources.list', async (t) => {
  const list = [
    '# comment',
    'deb http://mirror.example/debian-security bookworm-security main',
    'deb [arch=amd64] http://mirror.example/debian bookworm main contrib',
  ].join('\n');
  t.equal(debianMirror([list]), 'http://mirror.example/debian');
});

void t.test('no Debian archive at all', async (t) => {
  t.equal(
    debianMirror(['deb https://vendor.example/apt stable main\n'].map((s) => s.replace('deb ', '#deb '))),
    undefined,
  );
  t.equal(debianMirror([]), undefined);
});

void t.test('the cache folder is per package version, under XDG_CACHE_HOME', async (t) => {
  t.equal(
    pinnedRcloneBinary({ XDG_CACHE_HOME: '/c' }),
    `/c/rclone-migrate/rclone-${RCLONE_PIN.debianVersion}/usr/bin/rclone`,
  );
});
