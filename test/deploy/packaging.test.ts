// Packaging pieces that can be checked quickly without building the single executable (that is
// `npm run package`, which checks its own outputs): the systemd unit, the maintainer scripts, the
// commented example config and the Grafana dashboard.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig, settings } from '../../shared/config.ts';
import { createMetrics } from '../../daemon/metrics.ts';
import { configExample, DEFAULT_CONFIG, stripLineComments } from '../../packaging/config-example.ts';

const PACKAGING = join(import.meta.dirname, '../../packaging');
const scratch = mkdtempSync(join(tmpdir(), 'rm-packaging-'));
const unitText = readFileSync(join(PACKAGING, 'rclone-migrate.service'), 'utf8');

/** Unit directives as key → values (a key may repeat). */
function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (!m?.[1]) continue;
    out.set(m[1], [...(out.get(m[1]) ?? []), m[2] ?? '']);
  }
  return out;
}

const seconds = (value: string): number => {
  const m = /^(\d+)(s|min)?$/.exec(value);
  if (!m) throw new Error(`unparsed duration ${value}`);
  return Number(m[1]) * (m[2] === 'min' ? 60 : 1);
};

void t.test('unit: notify, watchdog, restart policy, drain-aware stop, dedicated user, sandbox', async (t) => {
  const d = directives(unitText);
  const one = (key: string) => d.get(key)?.at(-1);
  t.equal(one('Type'), 'notify');
  t.equal(one('NotifyAccess'), 'all', 'the notifier sends through a systemd-notify child');
  t.ok(one('WatchdogSec'));
  t.equal(one('Restart'), 'on-failure');
  t.equal(one('RestartPreventExitStatus'), '2', 'configuration errors do not crash-loop');
  t.equal(one('KillMode'), 'mixed', 'SIGTERM to the daemon, which drains before stopping rclone');
  const drain = settings().find((s) => s.path === 'worker.drainSeconds')?.leaf.default as number;
  t.ok(seconds(one('TimeoutStopSec') ?? '0') > drain, `TimeoutStopSec outlasts worker.drainSeconds (${drain} s)`);
  t.equal(one('User'), 'rclone-migrate');
  for (const [key, value] of Object.entries({
    NoNewPrivileges: 'yes',
    ProtectSystem: 'strict',
    PrivateTmp: 'yes',
    CapabilityBoundingSet: '',
    ProtectHome: 'yes',
  })) {
    t.equal(one(key), value, `${key}=${value}`);
  }
  t.notOk(d.has('RestartSteps'), 'no keys systemd 252 (Amazon Linux 2023) does not know');
  t.match(
    readFileSync(join(PACKAGING, 'restart-backoff.conf'), 'utf8'),
    /RestartSteps=/,
    'back-off for systemd ≥ 254 lives in the drop-in',
  );
});

void t.test(
  'unit passes systemd-analyze verify with no warnings',
  { skip: spawnSync('systemd-analyze', ['--version']).status !== 0 },
  async (t) => {
    // verify insists that ExecStart exists: point it at a stand-in executable.
    const exe = join(scratch, 'rclone-migrate');
    writeFileSync(exe, '#!/bin/sh\n');
    chmodSync(exe, 0o755);
    const unit = join(scratch, 'rclone-migrate.service');
    writeFileSync(unit, unitText.replace(/^ExecStart=\/usr\/bin\/rclone-migrate/m, `ExecStart=${exe}`));
    const res = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    t.equal(res.status, 0);
    t.equal(`${res.stdout}${res.stderr}`.trim(), '', 'no warnings');
  },
);

void t.test('maintainer functions: valid sh; the back-off drop-in only on systemd ≥ 254', async (t) => {
  const functions = readFileSync(join(PACKAGING, 'maintainer.sh'), 'utf8');
  t.equal(spawnSync('sh', ['-n'], { input: functions }).status, 0);
  const share = join(scratch, 'share');
  mkdirSync(share, { recursive: true });
  writeFileSync(join(share, 'restart-backoff.conf'), readFileSync(join(PACKAGING, 'restart-backoff.conf')));
  const bin = join(scratch, 'bin');
  mkdirSync(bin, { recursive: true });
  const run = (version: string) => {
    const dropins = join(scratch, `dropin-${version}`);
    writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho "systemd ${version} (${version}.1-1)"\n`);
    chmodSync(join(bin, 'systemctl'), 0o755);
    const res = spawnSync('sh', ['-c', `${functions}\ninstall_backoff_dropin`], {
      env: {
        PATH: `${bin}:${process.env.PATH}`,
        RCLONE_MIGRATE_SHARE_DIR: share,
        RCLONE_MIGRATE_DROPIN_DIR: dropins,
      },
      encoding: 'utf8',
    });
    t.equal(res.status, 0, res.stderr);
    return existsSync(join(dropins, 'restart-backoff.conf'));
  };
  t.equal(run('252'), false, 'Amazon Linux 2023 (252): no drop-in');
  t.equal(run('254'), true, '254: drop-in installed');
  t.equal(run('257'), true, '257: drop-in installed');
});

void t.test('the commented example config lists every setting and is accepted as it stands', async (t) => {
  const example = configExample();
  for (const { path, leaf } of settings()) {
    if (path === 'config') continue;
    t.ok(example.includes(`env ${leaf.env}, flag --${leaf.arg}`), `${path} documented`);
  }
  const file = join(scratch, 'example.json');
  writeFileSync(file, stripLineComments(example));
  const config = loadConfig({ env: {}, argv: ['--config', file] });
  t.equal(config.rclone.children, 6);
  const defaults = join(scratch, 'default.json');
  writeFileSync(defaults, JSON.stringify(DEFAULT_CONFIG));
  t.equal(loadConfig({ env: {}, argv: ['--config', defaults] }).queue.url, '', 'the shipped config.json loads');
});

void t.test('Grafana dashboard: valid, and every metric it queries is one the worker exposes', async (t) => {
  const dashboard = JSON.parse(readFileSync(join(PACKAGING, 'grafana-dashboard.json'), 'utf8')) as {
    uid: string;
    panels: Array<{ id: number; type: string; targets?: Array<{ expr: string }> }>;
  };
  t.equal(dashboard.uid, 'rclone-migrate');
  const ids = dashboard.panels.map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, 'unique panel ids');
  const exposed = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
  const queried = new Set(
    dashboard.panels
      .flatMap((p) => p.targets ?? [])
      .flatMap((target) => [...target.expr.matchAll(/rclone_migrate_[a-z0-9_]+/g)].map((m) => m[0])),
  );
  t.ok(queried.size >= 15, `${queried.size} metrics queried`);
  for (const name of queried) {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    t.ok(exposed.has(name) || exposed.has(base), `${name} is exposed`);
  }
  for (const name of [
    'rclone_migrate_objects_copied_total',
    'rclone_migrate_bytes_copied_total',
    'rclone_migrate_rclone_children_up',
  ]) {
    t.ok(queried.has(name), `dashboard shows ${name}`);
  }
});
