// Entry of the single executable. The bundle is CommonJS (what Node's single-executable support runs),
// which has no top-level await, so this is bin/rclone-migrate.ts without it.
import { main } from '../cli/main.ts';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
