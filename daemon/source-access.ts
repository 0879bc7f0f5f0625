// The source's credentials as the worker holds them: read once at start, read again when the
// source answers with an authentication error (rotated keys), at most once a minute.
import type { S3Client } from '@aws-sdk/client-s3';
import { sourceS3Client, type SourceCredentials } from '../shared/aws.ts';
import type { Config } from '../shared/config.ts';
import { errorMessage } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { resolveSourceCredentials } from '../shared/source-credentials.ts';

export const REFRESH_INTERVAL_MS = 60_000;

export class SourceAccess {
  #creds: SourceCredentials;
  #client: S3Client;
  #lastRefresh = 0;
  #refreshing: Promise<void> | undefined;
  readonly #config: Config;
  readonly #log: Logger;
  readonly #onChange: (creds: SourceCredentials) => Promise<void>;
  readonly #maxSockets: number;

  private constructor(
    config: Config,
    creds: SourceCredentials,
    log: Logger,
    onChange: (creds: SourceCredentials) => Promise<void>,
    maxSockets: number,
  ) {
    this.#config = config;
    this.#creds = creds;
    this.#log = log;
    this.#onChange = onChange;
    this.#maxSockets = maxSockets;
    this.#client = this.#build(creds);
  }

  static async open(
    config: Config,
    log: Logger,
    onChange: (creds: SourceCredentials) => Promise<void>,
    maxSockets: number,
  ): Promise<SourceAccess> {
    return new SourceAccess(config, await resolveSourceCredentials(config), log, onChange, maxSockets);
  }

  #build(creds: SourceCredentials): S3Client {
    return sourceS3Client(creds, {
      region: this.#config.source.region,
      forcePathStyle: this.#config.source.forcePathStyle,
      maxSockets: this.#maxSockets,
    });
  }

  get credentials(): SourceCredentials {
    return this.#creds;
  }

  client(): S3Client {
    return this.#client;
  }

  /** Reads the secrets again after an auth error; tells the pool if they changed. */
  async refresh(now = Date.now()): Promise<void> {
    if (this.#refreshing) return this.#refreshing;
    if (now - this.#lastRefresh < REFRESH_INTERVAL_MS) return;
    this.#lastRefresh = now;
    this.#refreshing = (async () => {
      try {
        const next = await resolveSourceCredentials(this.#config);
        const changed =
          next.endpoint !== this.#creds.endpoint ||
          next.accessKeyId !== this.#creds.accessKeyId ||
          next.secretAccessKey !== this.#creds.secretAccessKey;
        this.#log.info({ changed }, 'source credentials read again after an authentication error');
        if (!changed) return;
        this.#creds = next;
        this.#client.destroy();
        this.#client = this.#build(next);
        await this.#onChange(next);
      } catch (err) {
        this.#log.error({ err: errorMessage(err) }, 'reading the source credentials again failed');
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  destroy(): void {
    this.#client.destroy();
  }
}
