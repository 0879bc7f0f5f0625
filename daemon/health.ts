// When is the worker healthy? A pure decision over what the worker knows, for /healthz.

export type HealthInput = {
  childrenUp: number;
  childrenTotal: number;
  /** When SQS polling began failing without a success since; undefined while it works. */
  sqsFailingSince: number | undefined;
  sqsUnhealthyMs: number;
  draining: boolean;
  now: number;
};

export type Health = { healthy: boolean; problems: string[] };

export function health(input: HealthInput): Health {
  const problems: string[] = [];
  if (input.childrenUp < input.childrenTotal) {
    problems.push(`${input.childrenTotal - input.childrenUp} of ${input.childrenTotal} rclone children down`);
  }
  if (input.sqsFailingSince !== undefined && input.now - input.sqsFailingSince >= input.sqsUnhealthyMs) {
    problems.push(`SQS polling failing for ${Math.round((input.now - input.sqsFailingSince) / 1000)} s`);
  }
  if (input.draining) problems.push('draining');
  return { healthy: problems.length === 0, problems };
}
