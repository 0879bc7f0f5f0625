// What a subcommand is: the settings it uses (for --help) and what it runs.
import type { Config, Section } from './config.ts';
import type { Logger } from './logger.ts';

export type Command = {
  name: string;
  summary: string;
  /** Config sections listed by `--help`. */
  sections: readonly Section[];
  /** Extra usage lines shown by `--help` (positional arguments, subcommand flags). */
  usage?: string;
  /** Returns the exit code. */
  run(context: { config: Config; log: Logger; positional: string[] }): Promise<number>;
};
