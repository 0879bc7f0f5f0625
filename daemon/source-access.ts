// The source's credentials as the worker holds them: read once at start, read again when the
// source answers with an authentication error (rotated keys), at most once a minute, and at every
// probe while receiving is paused (a fixed secret is then picked up without a restart).
import type { S3Client } from '@aws-sdk/client-s3';
import { sourceS3Client, storeTimeouts, type SourceCredentials } from '../shared/aws.ts';
import type { Config } from '../shared/config.ts';
import { errorMessage } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { resolveSourceCredentials, sourceSecretNames } from '../shared/source-credentials.ts';

export const REFRESH_INTERVAL_MS = 60_000;

/** What a re-read found: a metric label. */
export type RefreshResult = 'changed' | 'unchanged' | 'failed';

export type RefreshOptions = {
  /** Read even if the last read was under a minute ago (a probe while paused). */
  force?: boolean;
  now?: number;
};

export type SourceAccessInit = {
  config: Config;
  log: Logger;
  /** Called with new credentials; awaited, so a probe that follows uses them everywhere. */
  onChange: (creds: SourceCredentials) => Promise<void>;
  maxSockets: number;
  /** Called after every re-read, with what it found (the refresh metric). */
  onRefreshed?: (result: RefreshResult) => void;
};

export class SourceAccess {
  #creds: SourceCredentials;
  #client: S3Client;
  #lastRefresh = 0;
  #refreshing: Promise<void> | undefined;
  readonly #config: Config;
  readonly #log: Logger;
  readonly #onChange: (creds: SourceCredentials) => Promise<void>;
  readonly #maxSockets: number;
  readonly #onRefreshed: (result: RefreshResult) => void;

  private constructor(init: SourceAccessInit, creds: SourceCredentials) {
    this.#config = init.config;
    this.#creds = creds;
    this.#log = init.log;
    this.#onChange = init.onChange;
    this.#maxSockets = init.maxSockets;
    this.#onRefreshed = init.onRefreshed ?? (() => undefined);
    this.#client = this.#build(creds);
  }

  static async open(init: SourceAccessInit): Promise<SourceAccess> {
    return new SourceAccess(init, await resolveSourceCredentials(init.config));
  }

  #build(creds: SourceCredentials): S3Client {
    return sourceS3Client(creds, {
      region: this.#config.source.region,
      forcePathStyle: this.#config.source.forcePathStyle,
      maxSockets: this.#maxSockets,
      timeouts: storeTimeouts(this.#config),
      // the adaptive copy limits answer refusals themselves, so they must see every one at once
      retryThrottled: !this.#config.worker.adaptiveConcurrency,
    });
  }

  get credentials(): SourceCredentials {
    return this.#creds;
  }

  client(): S3Client {
    return this.#client;
  }

  /**
   * Reads the secrets again (after an auth error, or at a probe with `force`); when they changed,
   * rebuilds the SDK client and waits for the pool to restart its children with them.
   */
  async refresh(options: RefreshOptions = {}): Promise<void> {
    const now = options.now ?? Date.now();
    if (this.#refreshing) return this.#refreshing;
    if (!options.force && now - this.#lastRefresh < REFRESH_INTERVAL_MS) return;
    this.#lastRefresh = now;
    this.#refreshing = (async () => {
      try {
        const next = await resolveSourceCredentials(this.#config);
        const changed =
          next.endpoint !== this.#creds.endpoint ||
          next.accessKeyId !== this.#creds.accessKeyId ||
          next.secretAccessKey !== this.#creds.secretAccessKey;
        this.#log.info(
          { changed, secrets: sourceSecretNames(this.#config) },
          options.force
            ? 'source credentials read again for a probe'
            : 'source credentials read again after an authentication error',
        );
        this.#onRefreshed(changed ? 'changed' : 'unchanged');
        if (!changed) return;
        this.#creds = next;
        this.#client.destroy();
        this.#client = this.#build(next);
        await this.#onChange(next);
      } catch (err) {
        this.#onRefreshed('failed');
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
