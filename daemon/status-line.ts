// The one line `systemctl status rclone-migrate` shows: what the worker is doing right now.
import type { StoreSide } from '../shared/errors.ts';
import type { Unavailability } from './outage.ts';

export type StatusSample = {
  at: number;
  childrenUp: number;
  children: number;
  messagesInFlight: number;
  objectsCopied: number;
  draining: boolean;
  /** Set while receiving is paused because a store does not answer or refuses our credentials. */
  paused?: { since: number; reason: Unavailability; store?: StoreSide };
};

/** Why receiving is paused, in a few words: `PAUSED: the source refuses our credentials for 60 s`. */
export function pauseText(paused: NonNullable<StatusSample['paused']>, at: number): string {
  const seconds = Math.round((at - paused.since) / 1000);
  const store = paused.store ? `the ${paused.store}` : 'a store';
  const what = paused.reason === 'auth' ? `${store} refuses our credentials` : `${store} does not answer`;
  return `PAUSED: ${what} (for ${seconds} s)`;
}

export function statusLine(previous: StatusSample | undefined, now: StatusSample): string {
  const seconds = previous ? (now.at - previous.at) / 1000 : 0;
  const rate = previous && seconds > 0 ? (now.objectsCopied - previous.objectsCopied) / seconds : 0;
  return [
    now.draining ? 'draining' : undefined,
    now.paused ? pauseText(now.paused, now.at) : undefined,
    `${now.childrenUp}/${now.children} rclone children up`,
    `${now.messagesInFlight} message${now.messagesInFlight === 1 ? '' : 's'} in flight`,
    `${now.objectsCopied.toLocaleString('en-US')} objects copied`,
    `${rate.toFixed(1)} objects/s`,
  ]
    .filter(Boolean)
    .join(', ');
}
