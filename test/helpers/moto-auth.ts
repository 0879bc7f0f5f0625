// moto checks signatures only once asked to (POST /moto-api/reset-auth), and then only for keys of IAM
// users it knows: `motoUser` creates one allowed everything, `checkSignatures` turns checking on or off.
import { LOCAL_REGION } from '../../scripts/local-stack.ts';

/** moto's IAM query API; unsigned requests are fine while moto is not checking. */
async function iam(endpoint: string, params: Record<string, string>): Promise<string> {
  const reply = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=test/20240101/${LOCAL_REGION}/iam/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: new URLSearchParams({ Version: '2010-05-08', ...params }),
  });
  const text = await reply.text();
  if (!reply.ok) throw new Error(`IAM ${params.Action}: ${reply.status} ${text}`);
  return text;
}

/** An IAM user of the moto at `endpoint`, allowed every action, with its keys. */
export async function motoUser(
  endpoint: string,
  name: string,
): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  await iam(endpoint, { Action: 'CreateUser', UserName: name });
  const keyXml = await iam(endpoint, { Action: 'CreateAccessKey', UserName: name });
  const accessKeyId = /<AccessKeyId>([^<]+)</.exec(keyXml)?.[1];
  const secretAccessKey = /<SecretAccessKey>([^<]+)</.exec(keyXml)?.[1];
  if (!accessKeyId || !secretAccessKey) throw new Error(`IAM CreateAccessKey answered no keys: ${keyXml}`);
  await iam(endpoint, {
    Action: 'PutUserPolicy',
    UserName: name,
    PolicyName: 'all',
    PolicyDocument: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
    }),
  });
  return { accessKeyId, secretAccessKey };
}

/** Turns moto's signature checking on (for the keys of its IAM users) or off. */
export async function checkSignatures(endpoint: string, on: boolean): Promise<void> {
  const reply = await fetch(`${endpoint}/moto-api/reset-auth`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: on ? '0' : 'inf',
  });
  if (!reply.ok) throw new Error(`reset-auth: ${reply.status}`);
}
