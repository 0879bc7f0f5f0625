// A small EC2 instance metadata client, IMDSv2 only (the launch template requires session tokens):
// PUT /latest/api/token for a token, then GET with it. Used for the instance id, the region and the
// Auto Scaling target lifecycle state.

export type Imds = {
  /** The text at a metadata path (e.g. `/latest/meta-data/instance-id`), or undefined when it is absent (404). */
  get(path: string): Promise<string | undefined>;
};

export class ImdsError extends Error {
  override name = 'ImdsError';
}

const TOKEN_TTL_SECONDS = 21_600;

export function createImds(options: { endpoint: string; timeoutMs?: number; now?: () => number }): Imds {
  const endpoint = options.endpoint.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 2_000;
  const now = options.now ?? Date.now;
  let token: { value: string; expiresAt: number } | undefined;

  const request = async (method: string, path: string, headers: Record<string, string>): Promise<Response> => {
    try {
      return await fetch(`${endpoint}${path}`, { method, headers, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      throw new ImdsError(`instance metadata ${method} ${path} at ${endpoint} failed: ${(err as Error).message}`);
    }
  };

  const fetchToken = async (): Promise<string> => {
    const res = await request('PUT', '/latest/api/token', {
      'X-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS),
    });
    if (!res.ok) throw new ImdsError(`instance metadata token request answered HTTP ${res.status}`);
    const value = (await res.text()).trim();
    // Renew well before expiry so a token never lapses between two reads.
    token = { value, expiresAt: now() + (TOKEN_TTL_SECONDS - 300) * 1000 };
    return value;
  };

  const validToken = async (): Promise<string> => (token && token.expiresAt > now() ? token.value : await fetchToken());

  return {
    async get(path) {
      let res = await request('GET', path, { 'X-aws-ec2-metadata-token': await validToken() });
      if (res.status === 401) {
        // The token was revoked or expired early: one fresh token, one retry.
        token = undefined;
        res = await request('GET', path, { 'X-aws-ec2-metadata-token': await validToken() });
      }
      if (res.status === 404) return undefined;
      if (!res.ok) throw new ImdsError(`instance metadata GET ${path} answered HTTP ${res.status}`);
      return (await res.text()).trim();
    },
  };
}
