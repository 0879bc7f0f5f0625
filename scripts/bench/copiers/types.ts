// What the bench needs of each copier it measures.
import type { LocalStack, Resources } from '../../local-stack.ts';
import type { Remote } from '../rclone-env.ts';
import type { DestStore } from '../stores.ts';

export type CopierName = 'agent' | 'reference' | 'ceiling' | 'rclone-direct';

export type CopierContext = {
  stack: LocalStack;
  resources: Resources;
  /** Where the copier reads the source: the store itself, or the latency proxy in front of it. */
  sourceEndpoint: string;
  /** The source's keys and region (its endpoint as reached directly; read through `sourceEndpoint`). */
  source: Remote;
  /** The destination: moto's S3, or an RGW user of its own. SQS is always the stack's. */
  dest: DestStore;
  /** Directory for this run's log files. */
  logDir: string;
  /** Short name of the run, for log file names. */
  label: string;
};

export type RunningCopier = {
  /** The processes whose trees are measured (memory, CPU). */
  roots: number[];
  /** The process that is "the daemon" for memory flatness (the agent's), if any. */
  daemon?: number;
  /** Set when a copier process has exited on its own. */
  alive: () => string | undefined;
  /** The daemon's Prometheus endpoint (the agent's), for its heap figures over a long run. */
  metricsUrl?: string;
  /** Called once the queue has drained, before stop: the agent saves its /metrics and answers their text. */
  drained?: () => Promise<string | void>;
  stop: () => Promise<void>;
};

/** A copier that consumes the bench queue. */
export type QueueCopier = {
  name: Exclude<CopierName, 'rclone-direct'>;
  describe: string;
  start(context: CopierContext): Promise<RunningCopier>;
};
