// How a command that fails for good says so: one line with the error's message (its causes appended),
// never a stack trace; the stack only at debug level, and without the absolute paths of the machine
// that built or checked out the code (a bundle's stack names the build folder).
import { errorMessage } from './errors.ts';

/** The message with its `cause` chain, on one line. */
export function fatalMessage(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 5; depth++) {
    const text = errorMessage(e)
      .replace(/\s*\n\s*/g, ' ')
      .trim();
    if (text && !parts.some((p) => p.includes(text))) parts.push(text);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(': ') || 'unknown error';
}

/** A stack trace with every absolute path or file URL cut to its file name (`cli.ts:12:3`). */
export function stackWithoutPaths(err: unknown): string | undefined {
  if (!(err instanceof Error) || !err.stack) return undefined;
  return err.stack.replace(/(?<=[\s(])(?:file:\/\/)?(?:\/[^\s()/:]+)+\/([^\s()/:]+:\d+(?::\d+)?)/g, '$1');
}

/** Debug and trace levels show stacks (RCLONE_MIGRATE_LOG_LEVEL, before any config is read). */
export function wantsStack(level: string | undefined): boolean {
  return level === 'debug' || level === 'trace';
}
