// `npm run package`: builds, offline, into dist/
//   rclone-migrate                      one self-contained executable (Node single-executable application:
//                                       an esbuild bundle injected into the Node 24 binary from node_modules)
//   rclone-migrate_<v>_<arch>.deb       executable, systemd unit, default config, user creation
//   rclone-migrate-<v>-1.<arch>.rpm     the same for rpm systems (Amazon Linux 2023)
//   SHA256SUMS
// and then checks what it built (the executable runs, package contents and scripts, the unit passes
// `systemd-analyze verify` without warnings) and prints a report. Exits non-zero if anything failed.
//
// Flags: --skip-rpm (no .rpm, e.g. where rpmbuild cannot be installed), --skip-deb. Tools missing on a
// fresh machine are installed first where this is root (scripts/package-tools.ts), else named with the command.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { build } from 'esbuild';
import { configExample, DEFAULT_CONFIG } from '../packaging/config-example.ts';
import { ensurePackageTools, neededTools } from './package-tools.ts';
import { VERSION } from '../shared/version.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BUILD = join(ROOT, 'build', 'package');
const DIST = join(ROOT, 'dist');
const PACKAGING = join(ROOT, 'packaging');
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const EXECUTABLE = join(DIST, 'rclone-migrate');

const ARCH = { x64: { deb: 'amd64', rpm: 'x86_64' }, arm64: { deb: 'arm64', rpm: 'aarch64' } }[
  process.arch as 'x64' | 'arm64'
];

type Check = { what: string; ok: boolean; detail: string };
const checks: Check[] = [];

function step(title: string): void {
  console.log(`\n== ${title}`);
}

function run(cmd: string, args: string[], options: SpawnSyncOptions = {}): { status: number; out: string } {
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (res.error) return { status: 127, out: res.error.message };
  return { status: res.status ?? 1, out: `${String(res.stdout ?? '')}${String(res.stderr ?? '')}` };
}

/** Runs a build step; a failure stops the build with the tool's own output. */
function must(cmd: string, args: string[], options: SpawnSyncOptions = {}): string {
  const res = run(cmd, args, options);
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${res.status}):\n${res.out}`);
  return res.out;
}

function check(what: string, ok: boolean, detail = ''): void {
  checks.push({ what, ok, detail });
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? `: ${detail}` : ''}`);
}

function have(tool: string): boolean {
  return run('sh', ['-c', `command -v ${tool}`]).status === 0;
}

function mib(path: string): string {
  return `${(statSync(path).size / 1024 / 1024).toFixed(1)} MiB`;
}

function write(path: string, content: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  chmodSync(path, mode);
}

function copy(from: string, to: string, mode = 0o644): void {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  chmodSync(to, mode);
}

/** The Node 24 binary from the npm registry (node_modules/.bin/node), never the machine's own Node. */
function baseNode(): string {
  const path = realpathSync(join(ROOT, 'node_modules', '.bin', 'node'));
  const version = must(path, ['--version']).trim();
  if (!/^v2[4-9]\./.test(version)) throw new Error(`${path} is Node ${version}; the executable is built on Node 24`);
  return path;
}

async function buildExecutable(): Promise<void> {
  step('bundle (esbuild)');
  const bundle = join(BUILD, 'rclone-migrate.cjs');
  const result = await build({
    entryPoints: [join(PACKAGING, 'sea-entry.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    keepNames: true,
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
  });
  const inputs = Object.keys(result.metafile.inputs).length;
  console.log(`bundle ${mib(bundle)} from ${inputs} modules`);

  step('single executable (node --experimental-sea-config, postject)');
  const node = baseNode();
  const blob = join(BUILD, 'sea-prep.blob');
  const seaConfig = join(BUILD, 'sea-config.json');
  write(
    seaConfig,
    JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }, null, 2),
  );
  must(node, ['--experimental-sea-config', seaConfig], { cwd: BUILD });
  mkdirSync(DIST, { recursive: true });
  rmSync(EXECUTABLE, { force: true });
  copyFileSync(node, EXECUTABLE);
  chmodSync(EXECUTABLE, 0o755);
  // The npm build of Node carries ~20 MiB of debug information; the executable does not need it.
  if (have('strip')) must('strip', ['--strip-debug', EXECUTABLE]);
  must(node, [
    join(ROOT, 'node_modules', 'postject', 'dist', 'cli.js'),
    EXECUTABLE,
    'NODE_SEA_BLOB',
    blob,
    '--sentinel-fuse',
    SEA_FUSE,
  ]);
  console.log(`${EXECUTABLE} ${mib(EXECUTABLE)}`);
}

function checkExecutable(): void {
  step('check the executable');
  // Run from an empty directory with a bare environment: nothing from the source tree may be needed.
  const cwd = join(BUILD, 'empty');
  mkdirSync(cwd, { recursive: true });
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd };
  const version = run(EXECUTABLE, ['--version'], { cwd, env });
  check(
    'rclone-migrate --version',
    version.status === 0 && version.out.includes(`rclone-migrate ${VERSION}`) && /rclone: /.test(version.out),
    version.out.trim().replace(/\n/g, ' | '),
  );
  const help = run(EXECUTABLE, ['--help'], { cwd, env });
  check(
    'rclone-migrate --help lists the commands',
    help.status === 0 && /worker/.test(help.out) && /list/.test(help.out),
  );
  for (const command of ['worker', 'list']) {
    const res = run(EXECUTABLE, [command, '--help'], { cwd, env });
    check(`rclone-migrate ${command} --help (its module loads from the bundle)`, res.status === 0, firstLine(res.out));
  }
  const bad = run(EXECUTABLE, ['worker', '--rclone-children', '0'], { cwd, env });
  check('a configuration error exits 2 (RestartPreventExitStatus)', bad.status === 2, firstLine(bad.out));
  // A setting only the command itself rejects goes through the logger: pino must work in the bundle
  // (it is used with pino.destination only; its worker-thread transports would not survive bundling).
  const logged = run(
    EXECUTABLE,
    ['list', '--source-bucket', 'x', '--dest-bucket', 'y', '--queue-url', 'http://127.0.0.1:9/q'],
    {
      cwd,
      env: { ...env, AWS_REGION: 'us-east-1' },
    },
  );
  const line = logged.out.split('\n').find((l) => l.startsWith('{'));
  check(
    'JSON log lines from pino inside the executable',
    line !== undefined && /"level":"\w+"/.test(line),
    line ?? logged.out.trim(),
  );
  checkFatalLine(cwd, env);
}

/** A failure inside the bundle: one line, no stack frame, no path of the build machine (shared/fatal.ts). */
function checkFatalLine(cwd: string, env: Record<string, string>): void {
  const closed = 'http://127.0.0.1:9'; // the discard port: nothing listens on loopback here
  writeFileSync(join(cwd, 'config.json'), '{}');
  const failed = run(
    EXECUTABLE,
    ['worker', '--queue-url', `${closed}/q`, '--dead-letter-url', `${closed}/d`, '--metrics-port', '-1'],
    {
      cwd,
      timeout: 60_000,
      env: {
        ...env,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'x',
        AWS_SECRET_ACCESS_KEY: 'y',
        AWS_ENDPOINT_URL: closed,
        RCLONE_MIGRATE_CONFIG: join(cwd, 'config.json'),
      },
    },
  );
  const lines = failed.out.trim().split('\n');
  check(
    'a fatal error is one line, without stack or build paths',
    failed.status === 1 && lines.length === 1 && !failed.out.includes(ROOT) && !/\n\s+at /.test(failed.out),
    firstLine(failed.out).slice(0, 160),
  );
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}

/** The file tree both packages install, under BUILD/root. */
function stageRoot(): string {
  step('stage the package tree');
  const root = join(BUILD, 'root');
  rmSync(root, { recursive: true, force: true });
  copy(EXECUTABLE, join(root, 'usr/bin/rclone-migrate'), 0o755);
  copy(join(PACKAGING, 'rclone-migrate.service'), join(root, 'usr/lib/systemd/system/rclone-migrate.service'));
  copy(join(PACKAGING, 'restart-backoff.conf'), join(root, 'usr/share/rclone-migrate/restart-backoff.conf'));
  copy(join(PACKAGING, 'grafana-dashboard.json'), join(root, 'usr/share/rclone-migrate/grafana-dashboard.json'));
  copy(join(PACKAGING, 'README.md'), join(root, 'usr/share/doc/rclone-migrate/README.md'));
  write(join(root, 'etc/rclone-migrate/config.json'), `${JSON.stringify(DEFAULT_CONFIG, null, 2)}\n`);
  write(join(root, 'etc/rclone-migrate/config.example.jsonc'), configExample());
  copy(join(PACKAGING, 'environment'), join(root, 'etc/rclone-migrate/environment'));
  return root;
}

/** Maintainer scripts: the shared functions, then what this script does. */
function script(body: string): string {
  return `#!/bin/sh\nset -e\n${readFileSync(join(PACKAGING, 'maintainer.sh'), 'utf8')}\n${body.trim()}\n`;
}

const SCRIPTS = {
  deb: {
    postinst: script(`
case "$1" in
  configure)
    create_user
    install_backoff_dropin
    reload_systemd
    if [ -z "$2" ]; then enable_unit; else restart_if_running; fi
    ;;
esac`),
    prerm: script(`
case "$1" in
  remove | deconfigure) stop_unit; disable_unit ;;
esac`),
    postrm: script(`
case "$1" in
  remove | purge) remove_backoff_dropin; reload_systemd ;;
esac`),
  },
  // rpm passes the number of versions installed after the operation: 1 = install, 2 = upgrade, 0 = erase.
  rpm: {
    pre: 'create_user',
    post: 'install_backoff_dropin\nreload_systemd\nif [ "$1" -eq 1 ]; then enable_unit; else restart_if_running; fi',
    preun: 'if [ "$1" -eq 0 ]; then stop_unit; disable_unit; fi',
    postun: 'if [ "$1" -eq 0 ]; then remove_backoff_dropin; fi\nreload_systemd',
  },
};

function buildDeb(root: string): string {
  step('.deb (dpkg-deb)');
  const tree = join(BUILD, 'deb');
  rmSync(tree, { recursive: true, force: true });
  must('cp', ['-a', `${root}/.`, tree]);
  const control = [
    'Package: rclone-migrate',
    `Version: ${VERSION}`,
    `Architecture: ${ARCH?.deb}`,
    'Maintainer: rclone-migrate maintainers <rclone-migrate@localhost>',
    'Section: admin',
    'Priority: optional',
    'Depends: libc6 (>= 2.28), libstdc++6, passwd, systemd',
    'Recommends: rclone',
    `Installed-Size: ${Math.ceil(Number(must('du', ['-sk', root]).split('\t')[0]))}`,
    'Description: fleet agent moving data from S3-compatible stores into Amazon S3',
    ' The worker daemon (systemd unit rclone-migrate.service) copies object batches from an SQS',
    ' queue with supervised long-lived rclone children; the lister and operator commands ship in',
    ' the same self-contained executable. rclone itself is installed separately.',
    '',
  ].join('\n');
  write(join(tree, 'DEBIAN/control'), control);
  write(
    join(tree, 'DEBIAN/conffiles'),
    ['/etc/rclone-migrate/config.json', '/etc/rclone-migrate/environment', ''].join('\n'),
  );
  for (const [name, body] of Object.entries(SCRIPTS.deb)) write(join(tree, 'DEBIAN', name), body, 0o755);
  const out = join(DIST, `rclone-migrate_${VERSION}_${ARCH?.deb}.deb`);
  rmSync(out, { force: true });
  must('dpkg-deb', ['--root-owner-group', '-Zxz', '-z6', '--build', tree, out]);
  console.log(`${out} ${mib(out)}`);
  return out;
}

function buildRpm(root: string): string {
  step('.rpm (rpmbuild)');
  const top = join(BUILD, 'rpm');
  rmSync(top, { recursive: true, force: true });
  mkdirSync(join(top, 'SPECS'), { recursive: true });
  const fill: Record<string, string> = {
    VERSION,
    RPM_ARCH: ARCH?.rpm ?? process.arch,
    STAGE: root,
    PRE: script(SCRIPTS.rpm.pre).replace(/^#!\/bin\/sh\n/, ''),
    POST: script(SCRIPTS.rpm.post).replace(/^#!\/bin\/sh\n/, ''),
    PREUN: script(SCRIPTS.rpm.preun).replace(/^#!\/bin\/sh\n/, ''),
    POSTUN: script(SCRIPTS.rpm.postun).replace(/^#!\/bin\/sh\n/, ''),
  };
  const spec = readFileSync(join(PACKAGING, 'rclone-migrate.spec.in'), 'utf8').replace(
    /@([A-Z_]+)@/g,
    (_m, key: string) => fill[key] ?? `@${key}@`,
  );
  const specPath = join(top, 'SPECS', 'rclone-migrate.spec');
  write(specPath, spec);
  must('rpmbuild', [
    '-bb',
    '--quiet',
    '--target',
    ARCH?.rpm ?? process.arch,
    '--define',
    `_topdir ${top}`,
    '--define',
    `_rpmdir ${DIST}`,
    '--define',
    '_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm',
    // zstd payloads: rpm 4.14+ (Amazon Linux 2023 has 4.16) reads them, and they build fast.
    '--define',
    '_binary_payload w9.zstdio',
    specPath,
  ]);
  const out = join(DIST, `rclone-migrate-${VERSION}-1.${ARCH?.rpm}.rpm`);
  console.log(`${out} ${mib(out)}`);
  return out;
}

const EXPECTED_FILES = [
  'usr/bin/rclone-migrate',
  'usr/lib/systemd/system/rclone-migrate.service',
  'etc/rclone-migrate/config.json',
  'etc/rclone-migrate/config.example.jsonc',
  'etc/rclone-migrate/environment',
  'usr/share/rclone-migrate/grafana-dashboard.json',
];

function checkDeb(deb: string): void {
  step('check the .deb');
  const listing = run('dpkg-deb', ['-c', deb]);
  const missing = EXPECTED_FILES.filter((f) => !listing.out.includes(`./${f}`));
  check(
    '.deb contents',
    listing.status === 0 && missing.length === 0,
    missing.length ? `missing ${missing.join(', ')}` : `${EXPECTED_FILES.length} expected files`,
  );
  check('.deb files owned by root', !/^\S+\s+(?!root\/root)\S+/m.test(listing.out));
  const info = run('dpkg-deb', ['-I', deb]);
  check('.deb control and scripts', info.status === 0 && /postinst/.test(info.out) && /conffiles/.test(info.out));
  const postinst = run('dpkg-deb', ['--ctrl-tarfile', deb]);
  check('.deb maintainer scripts present', postinst.status === 0);
  for (const [name, body] of Object.entries(SCRIPTS.deb)) shellSyntax(`deb ${name}`, body);
  const root = join(BUILD, 'deb-unpacked');
  rmSync(root, { recursive: true, force: true });
  const unpacked = run('dpkg-deb', ['-x', deb, root]);
  const version = run(join(root, 'usr/bin/rclone-migrate'), ['--version']);
  check('.deb unpacks and its executable runs', unpacked.status === 0 && version.status === 0, firstLine(version.out));
}

function checkRpm(rpm: string): void {
  step('check the .rpm');
  const listing = run('rpm', ['-qlp', rpm]);
  const missing = EXPECTED_FILES.filter((f) => !listing.out.includes(`/${f}`));
  check(
    '.rpm contents',
    listing.status === 0 && missing.length === 0,
    missing.length ? `missing ${missing.join(', ')}` : `${EXPECTED_FILES.length} expected files`,
  );
  const config = run('rpm', ['-qcp', rpm]);
  check(
    '.rpm config files',
    /config\.json/.test(config.out) && /environment/.test(config.out),
    config.out.trim().replace(/\n/g, ' '),
  );
  const scripts = run('rpm', ['-qp', '--scripts', rpm]);
  check('.rpm %pre creates the user', /useradd --system/.test(scripts.out));
  const requires = run('rpm', ['-qpR', rpm]);
  check('.rpm requires', requires.status === 0, requires.out.trim().replace(/\n/g, ', '));
  // Unpack into a scratch root (no scripts, no dependencies): proves the payload and its compression.
  const root = join(BUILD, 'rpm-root');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const installed =
    run('rpm', ['--root', root, '--initdb']).status === 0 &&
    run('rpm', ['--root', root, '--nodeps', '--noscripts', '-i', rpm]).status === 0;
  const version = run(join(root, 'usr/bin/rclone-migrate'), ['--version']);
  check('.rpm unpacks and its executable runs', installed && version.status === 0, firstLine(version.out));
}

function shellSyntax(what: string, body: string): void {
  const res = run('sh', ['-n'], { input: body });
  check(`${what} is valid sh`, res.status === 0, res.out.trim());
}

/** `systemd-analyze verify` of the unit, with ExecStart pointed at the built executable (verify insists it exists). */
function checkUnit(): void {
  step('check the systemd unit');
  if (!have('systemd-analyze')) {
    check('systemd-analyze verify', false, 'systemd-analyze not found (install systemd)');
    return;
  }
  const dir = join(BUILD, 'unit-check');
  mkdirSync(dir, { recursive: true });
  const unit = readFileSync(join(PACKAGING, 'rclone-migrate.service'), 'utf8').replace(
    /^ExecStart=\/usr\/bin\/rclone-migrate/m,
    `ExecStart=${EXECUTABLE}`,
  );
  const path = join(dir, 'rclone-migrate.service');
  write(path, unit);
  const verify = run('systemd-analyze', ['verify', path]);
  check(
    'systemd-analyze verify: no errors, no warnings',
    verify.status === 0 && verify.out.trim() === '',
    verify.out.trim(),
  );
  const security = run('systemd-analyze', ['security', '--offline=true', path]);
  const score = /Overall exposure level for \S+: ([\d.]+ \S+)/.exec(security.out)?.[1];
  check(
    'systemd-analyze security exposure',
    security.status === 0 && score !== undefined,
    score ?? security.out.trim(),
  );
}

function checksums(files: string[]): void {
  const lines = files.map(
    (f) => `${createHash('sha256').update(readFileSync(f)).digest('hex')}  ${f.slice(DIST.length + 1)}`,
  );
  write(join(DIST, 'SHA256SUMS'), `${lines.join('\n')}\n`);
}

async function main(): Promise<number> {
  const args = new Set(process.argv.slice(2));
  if (!ARCH) throw new Error(`unsupported architecture ${process.arch}`);
  const started = Date.now();
  // First, so a fresh machine gets its tools (or the exact command to run) before the long build.
  ensurePackageTools(neededTools({ deb: !args.has('--skip-deb'), rpm: !args.has('--skip-rpm') }), console.log);
  mkdirSync(BUILD, { recursive: true });
  await buildExecutable();
  checkExecutable();
  checkUnit();
  const root = stageRoot();
  const built = [EXECUTABLE];
  if (!args.has('--skip-deb')) {
    if (have('dpkg-deb')) {
      const deb = buildDeb(root);
      checkDeb(deb);
      built.push(deb);
    } else check('.deb', false, 'dpkg-deb not found: install dpkg (apt-get install -y dpkg), or pass --skip-deb');
  }
  if (!args.has('--skip-rpm')) {
    if (have('rpmbuild')) {
      const rpm = buildRpm(root);
      checkRpm(rpm);
      built.push(rpm);
    } else {
      check(
        '.rpm',
        false,
        'rpmbuild not found: install it (Debian/Ubuntu: apt-get install -y rpm; Fedora/Amazon Linux: dnf install -y rpm-build), or pass --skip-rpm',
      );
    }
  }
  checksums(built);
  const failed = checks.filter((c) => !c.ok);
  console.log(`\n== report (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  for (const file of built) console.log(`  ${file.slice(ROOT.length + 1)}  ${mib(file)}`);
  console.log(`  dist/SHA256SUMS`);
  console.log(`${checks.length - failed.length} passed, ${failed.length} failed`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`package: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
