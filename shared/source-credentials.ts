// Where the source's endpoint and keys come from: given directly in config (local use), else the
// three Secrets Manager secrets the reference deployment uses. Values are never logged or echoed.
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Config } from './config.ts';
import type { SourceCredentials } from './aws.ts';
import { secretsClient } from './aws.ts';
import { ConfigError, errorMessage, httpStatus } from './errors.ts';

type Field = keyof SourceCredentials;

/** Which secret name backs each field, and the setting that names it (for error messages). */
function secretNames(config: Config): Record<Field, { name: string; setting: string }> {
  return {
    endpoint: { name: config.source.secretEndpoint, setting: 'source.secretEndpoint' },
    accessKeyId: { name: config.source.secretAccessKeyName, setting: 'source.secretAccessKeyName' },
    secretAccessKey: { name: config.source.secretSecretKeyName, setting: 'source.secretSecretKeyName' },
  };
}

/** The fields config does not give directly, which must be read from Secrets Manager. */
export function missingSourceFields(config: Config): Field[] {
  const given: Record<Field, string> = {
    endpoint: config.source.endpoint,
    accessKeyId: config.source.accessKeyId,
    secretAccessKey: config.source.secretAccessKey,
  };
  return (Object.keys(given) as Field[]).filter((f) => given[f] === '');
}

/** The Secrets Manager names the source credentials are read from (none when config gives them all). */
export function sourceSecretNames(config: Config): string[] {
  const names = secretNames(config);
  return missingSourceFields(config).map((field) => names[field].name);
}

/**
 * Resolves the source credentials: each field from config when set, otherwise from its secret.
 * Throws ConfigError naming the secret (never its value) when one is missing, empty or refused; a
 * plain Error when Secrets Manager cannot answer now (unreachable, throttled, failing).
 */
export async function resolveSourceCredentials(
  config: Config,
  client?: SecretsManagerClient,
): Promise<SourceCredentials> {
  const creds: SourceCredentials = {
    endpoint: config.source.endpoint,
    accessKeyId: config.source.accessKeyId,
    secretAccessKey: config.source.secretAccessKey,
  };
  const missing = missingSourceFields(config);
  if (missing.length === 0) return creds;
  const names = secretNames(config);
  const secrets = client ?? secretsClient();
  try {
    await Promise.all(
      missing.map(async (field) => {
        const { name, setting } = names[field];
        if (!name) throw new ConfigError(`source.${field} is not set and ${setting} names no secret`);
        let value: string | undefined;
        try {
          const out = await secrets.send(new GetSecretValueCommand({ SecretId: name }));
          value = out.SecretString;
        } catch (err) {
          const what = `cannot read secret "${name}" (${setting}) for source.${field}: ${describeSecretError(err)}`;
          // A missing secret or a refusal is a configuration error (exit 2, no restart); an outage or
          // throttling at boot is not, and the exit it causes lets systemd try again.
          if (isTransient(err)) throw new Error(`${what} (temporary: exiting to be restarted)`, { cause: err });
          throw new ConfigError(what);
        }
        const trimmed = value?.trim() ?? '';
        if (trimmed === '') throw new ConfigError(`secret "${name}" (${setting}) for source.${field} is empty`);
        creds[field] = trimmed;
      }),
    );
  } finally {
    if (!client) secrets.destroy();
  }
  return creds;
}

/** No answer at all (network), throttling, or a server-side failure: worth another try later. */
function isTransient(err: unknown): boolean {
  const status = httpStatus(err);
  return (
    status === undefined || status >= 500 || status === 429 || (err as { name?: string }).name === 'ThrottlingException'
  );
}

/** The SDK error's name and message: they name the secret and the cause, never the value. */
function describeSecretError(err: unknown): string {
  const name = err instanceof Error ? err.name : '';
  const message = errorMessage(err);
  return name && !message.startsWith(name) ? `${name}: ${message}` : message;
}
