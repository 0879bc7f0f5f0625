// JSON logs to stdout (journald collects them), with secrets redacted by path.
import { pino, type Logger } from 'pino';

export type { Logger };

/** Field paths that may carry a secret anywhere in a log line. */
const REDACT = [
  'secretAccessKey',
  'accessKeyId',
  'sessionToken',
  'password',
  'authorization',
  '*.secretAccessKey',
  '*.accessKeyId',
  '*.sessionToken',
  '*.password',
  '*.authorization',
  'config.source.secretAccessKey',
  'config.source.accessKeyId',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ sync: false }),
  );
}
