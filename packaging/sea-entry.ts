// Entry of the single executable. The bundle is CommonJS (what Node's single-executable support runs),
// which has no top-level await, so this is bin/rclone-migrate.ts without it.
import { runCli } from '../cli/main.ts';

void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
