// The process is named rclone-migrate (comm: what pgrep, top and `systemctl status` show) with the
// command in its command line, checked in a real Node 24 process, whose main thread is otherwise
// named `MainThread`.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const MODULE = fileURLToPath(new URL('../../shared/process-title.ts', import.meta.url));
const linux = { skip: process.platform !== 'linux' ? 'Linux /proc only' : false };

type Names = { comm: string; cmdline: string; pgrep: string | null };

/** Runs `code` in a fresh Node process, then reports its own names and whether pgrep finds it. */
function namesAfter(code: string): Names {
  const script = `
    import { readFileSync } from 'node:fs';
    import { spawnSync } from 'node:child_process';
    ${code}
    const read = (f) => readFileSync('/proc/self/' + f, 'utf8');
    const pgrep = spawnSync('pgrep', ['-x', 'rclone-migrate'], { encoding: 'utf8' });
    console.log(JSON.stringify({
      comm: read('comm').trim(),
      cmdline: read('cmdline').replace(/\\0+$/, '').replaceAll('\\0', ' '),
      pgrep: pgrep.error ? null : String(pgrep.stdout.split('\\n').includes(String(process.pid))),
    }));`;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  if (res.status !== 0) throw new Error(`child failed: ${res.stderr}`);
  return JSON.parse(res.stdout) as Names;
}

t.test('Node 24 alone names the process MainThread (what this fixes)', linux, async (t) => {
  const names = namesAfter('');
  t.equal(names.comm, 'MainThread');
  if (names.pgrep !== null) t.equal(names.pgrep, 'false', 'pgrep rclone-migrate does not find it');
});

t.test('setProcessTitle names it rclone-migrate, with the command in its command line', linux, async (t) => {
  const names = namesAfter(`import { setProcessTitle } from ${JSON.stringify(MODULE)}; setProcessTitle('worker');`);
  t.equal(names.comm, 'rclone-migrate', '/proc/self/comm exactly (not the 15-byte cut "rclone-migrate ")');
  t.equal(names.cmdline, 'rclone-migrate worker', '/proc/self/cmdline');
  if (names.pgrep === null) t.comment('pgrep not installed: comm above is what it matches');
  else t.equal(names.pgrep, 'true', 'pgrep -x rclone-migrate finds it');
});
