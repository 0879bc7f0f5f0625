// Environment for the rclone processes the bench starts itself (the reference and the direct
// copies): both remotes configured entirely by environment, secrets never on a command line, and
// AWS_CA_BUNDLE removed (rclone fails every S3 call when it is set; see DESIGN.md).

export type Remote = { endpoint: string; accessKeyId: string; secretAccessKey: string; region: string };

/** The remote names the bench's rclone command lines use: `src:bucket/key` and `dst:bucket/key`. */
export const SOURCE_REMOTE = 'src';
export const DEST_REMOTE = 'dst';

function remoteEnv(name: string, remote: Remote): Record<string, string> {
  const p = `RCLONE_CONFIG_${name.toUpperCase()}_`;
  const env: Record<string, string> = {
    [`${p}TYPE`]: 's3',
    [`${p}PROVIDER`]: 'Other',
    [`${p}ENDPOINT`]: remote.endpoint,
    [`${p}ACCESS_KEY_ID`]: remote.accessKeyId,
    [`${p}SECRET_ACCESS_KEY`]: remote.secretAccessKey,
    [`${p}REGION`]: remote.region,
    [`${p}FORCE_PATH_STYLE`]: 'true',
    [`${p}ENV_AUTH`]: 'false',
  };
  return env;
}

/**
 * The child environment: the parent's, minus AWS_CA_BUNDLE, plus both remotes with rclone's defaults,
 * as the reference ran them (rclone 1.75 copes with moto's multipart VersionId "null": no no_head).
 */
export function rcloneEnv(
  source: Remote,
  dest: Remote,
  base: NodeJS.ProcessEnv = process.env,
): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...base };
  delete env.AWS_CA_BUNDLE;
  return {
    ...env,
    RCLONE_CONFIG: '/dev/null',
    ...remoteEnv(SOURCE_REMOTE, source),
    ...remoteEnv(DEST_REMOTE, dest),
  };
}
