// Prometheus metrics of the worker. Labels are bounded sets (path, outcome, reason, operation):
// never a key or a bucket.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Metrics = ReturnType<typeof createMetrics>;

const PREFIX = 'rclone_migrate_';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const r = [registry];
  return {
    registry,
    objectsCopied: new Counter({
      name: `${PREFIX}objects_copied_total`,
      help: 'Objects copied and verified at the destination, by copy path (rclone or sdk)',
      labelNames: ['path'] as const,
      registers: r,
    }),
    objectsFailed: new Counter({
      name: `${PREFIX}objects_failed_total`,
      help: 'Object copy attempts that failed, by reason (not_found, auth, verify, unreachable, copy, child, aborted)',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    objectsDeadLettered: new Counter({
      name: `${PREFIX}objects_dead_lettered_total`,
      help: 'Objects sent to the dead-letter queue after their attempts were exhausted',
      registers: r,
    }),
    bytesCopied: new Counter({
      name: `${PREFIX}bytes_copied_total`,
      help: 'Bytes of objects copied and verified at the destination',
      registers: r,
    }),
    verifyRequests: new Counter({
      name: `${PREFIX}verify_requests_total`,
      help: 'Destination requests made to verify copies, by method (list: one per batch; head: one per object the listing could not settle)',
      labelNames: ['method'] as const,
      registers: r,
    }),
    objectDuration: new Histogram({
      name: `${PREFIX}object_copy_duration_seconds`,
      help: 'Time to copy one object, by outcome (verification follows per batch)',
      labelNames: ['outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
      registers: r,
    }),
    batchDuration: new Histogram({
      name: `${PREFIX}batch_duration_seconds`,
      help: 'Time from receiving a message to settling it, by outcome (deleted, resent, dead_lettered, released)',
      labelNames: ['outcome'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers: r,
    }),
    messagesReceived: new Counter({
      name: `${PREFIX}messages_received_total`,
      help: 'Messages received from the work queue',
      registers: r,
    }),
    messagesSettled: new Counter({
      name: `${PREFIX}messages_settled_total`,
      help: 'Messages settled, by outcome (deleted, resent, dead_lettered, malformed, released)',
      labelNames: ['outcome'] as const,
      registers: r,
    }),
    messagesInFlight: new Gauge({
      name: `${PREFIX}messages_in_flight`,
      help: 'Messages received and not yet settled',
      registers: r,
    }),
    copiesInFlight: new Gauge({
      name: `${PREFIX}copies_in_flight`,
      help: 'Object copies running now',
      registers: r,
    }),
    childrenUp: new Gauge({
      name: `${PREFIX}rclone_children_up`,
      help: 'rclone rcd children answering their health check',
      registers: r,
    }),
    childrenConfigured: new Gauge({
      name: `${PREFIX}rclone_children_configured`,
      help: 'rclone rcd children the pool is configured to run',
      registers: r,
    }),
    childRestarts: new Counter({
      name: `${PREFIX}rclone_child_restarts_total`,
      help: 'Times an rclone child was restarted after it died or stopped answering',
      registers: r,
    }),
    childRss: new Gauge({
      name: `${PREFIX}rclone_child_rss_bytes`,
      help: 'Resident memory of each rclone child at its last health check, by pool slot',
      labelNames: ['slot'] as const,
      registers: r,
    }),
    childRecycles: new Counter({
      name: `${PREFIX}rclone_child_recycles_total`,
      help: 'Times an rclone child was drained and restarted past its limit, by reason (rss, copies)',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    visibilityExtensions: new Counter({
      name: `${PREFIX}visibility_extensions_total`,
      help: 'Message visibility extensions made by the heartbeat',
      registers: r,
    }),
    sqsErrors: new Counter({
      name: `${PREFIX}sqs_errors_total`,
      help: 'Failed SQS calls, by operation',
      labelNames: ['operation'] as const,
      registers: r,
    }),
    storesUnreachable: new Gauge({
      name: `${PREFIX}stores_unreachable`,
      help: '1 while the worker has stopped receiving because a store does not answer, else 0',
      registers: r,
    }),
    storesUnavailable: new Gauge({
      name: `${PREFIX}stores_unavailable`,
      help: '1 while the worker has stopped receiving because a store is unavailable, by reason (unreachable: no answer; auth: our credentials refused), else 0',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    outageProbes: new Counter({
      name: `${PREFIX}outage_probes_total`,
      help: 'Probes of the stores while receiving is paused, by result (answered, unreachable, auth)',
      labelNames: ['result'] as const,
      registers: r,
    }),
    throttledRequests: new Counter({
      name: `${PREFIX}throttled_requests_total`,
      help: 'Copy attempts a store refused with SlowDown, 503 or 429, by store (source, destination); each is one or more refused requests',
      labelNames: ['store'] as const,
      registers: r,
    }),
    copyConcurrencyLimit: new Gauge({
      name: `${PREFIX}copy_concurrency_limit`,
      help: 'Copies the worker lets run at once at each store now, as adapted to its throttling, by store',
      labelNames: ['store'] as const,
      registers: r,
    }),
    copyStartRateLimit: new Gauge({
      name: `${PREFIX}copy_start_rate_limit`,
      help: 'Copy starts per second the worker allows at each store now, as learned from its throttling or capped by --max-requests-per-second, by store; 0: not paced',
      labelNames: ['store'] as const,
      registers: r,
    }),
    credentialRefreshes: new Counter({
      name: `${PREFIX}source_credential_refreshes_total`,
      help: 'Times the source credentials were read again from Secrets Manager (after an authentication error, and at every probe while paused), by result (changed, unchanged, failed)',
      labelNames: ['result'] as const,
      registers: r,
    }),
  };
}
