// The one line `systemctl status rclone-migrate` shows: what the worker is doing right now.

export type StatusSample = {
  at: number;
  childrenUp: number;
  children: number;
  messagesInFlight: number;
  objectsCopied: number;
  draining: boolean;
  /** Set while receiving is paused because a store does not answer. */
  storesUnreachableSince?: number;
};

export function statusLine(previous: StatusSample | undefined, now: StatusSample): string {
  const seconds = previous ? (now.at - previous.at) / 1000 : 0;
  const rate = previous && seconds > 0 ? (now.objectsCopied - previous.objectsCopied) / seconds : 0;
  return [
    now.draining ? 'draining' : undefined,
    now.storesUnreachableSince !== undefined
      ? `PAUSED: a store has not answered for ${Math.round((now.at - now.storesUnreachableSince) / 1000)} s`
      : undefined,
    `${now.childrenUp}/${now.children} rclone children up`,
    `${now.messagesInFlight} message${now.messagesInFlight === 1 ? '' : 's'} in flight`,
    `${now.objectsCopied.toLocaleString('en-US')} objects copied`,
    `${rate.toFixed(1)} objects/s`,
  ]
    .filter(Boolean)
    .join(', ');
}
