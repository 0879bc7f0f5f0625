// The name `ps`, `pgrep rclone-migrate`, `top` and `systemctl status` (Main PID: N (rclone-migrate)) show.
// Node 24 names its main thread `MainThread`, and that is the process's comm on Linux. process.title
// rewrites the command line and sets comm to its first 15 bytes ("rclone-migrate " with a trailing
// space for "rclone-migrate worker"), so comm is then written exactly through /proc/self/comm.
import { writeFileSync } from 'node:fs';

export const PROCESS_NAME = 'rclone-migrate';

/** Names this process `rclone-migrate` (comm) with the command visible in its command line. */
export function setProcessTitle(command: string | undefined): void {
  process.title = command ? `${PROCESS_NAME} ${command}` : PROCESS_NAME;
  if (process.platform !== 'linux') return;
  try {
    writeFileSync('/proc/self/comm', PROCESS_NAME);
  } catch {
    // a /proc that refuses it: the name from process.title stands
  }
}
