import { BeforeApplicationShutdown, Injectable, Logger, Optional } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { AppConfig } from '../config/app-config.js';
import { JobQueue } from '../queue/job-queue.js';
import type { StepRunStatus, WorkflowRunStatus } from './workflow-definition.js';

/** What the events stream carries (and what workers tell each other). */
export type RunEvent =
  | { type: 'run'; runId: string; status: WorkflowRunStatus; error?: string | null; output?: unknown; at: string }
  | { type: 'step'; runId: string; stepId: string; status: StepRunStatus; attempt: number; error?: string | null; output?: unknown; at: string }
  | { type: 'log'; runId: string; stepId: string; attempt: number; level: 'info' | 'warn' | 'error'; message: string; at: string }
  | { type: 'progress'; runId: string; stepId: string; attempt: number; percent?: number; message?: string; at: string };

/** Messages between processes that are not for clients. */
export type ControlMessage = { type: 'cancel'; runId: string };

type Listener<T> = (message: T) => void;

/** Events published within this many milliseconds travel together (one PUBLISH to Redis). */
const FLUSH_MS = 5;

/**
 * Run events and control messages between processes: Redis pub/sub when the jobs go through
 * Redis (a step may run in another process than the one streaming its run), an in-memory
 * emitter otherwise (every step runs in this process). Every run's events share one channel,
 * so a worker publishes once per FLUSH_MS whatever the number of runs it moves; a process
 * subscribes to it only while it streams some run, and hands each event to that run's
 * listeners. Delivery is best effort: PostgreSQL stays the truth, and a stream starts from the
 * stored state.
 */
@Injectable()
export class RunEvents implements BeforeApplicationShutdown {
  private readonly logger = new Logger('WorkflowEvents');
  private readonly local = new EventEmitter().setMaxListeners(0);
  private readonly redisUrl?: string;
  private readonly prefix: string;
  private publisher?: Redis;
  private subscriber?: Redis;
  private readonly channelListeners = new Map<string, Set<Listener<unknown>>>();
  private readonly outbox = new Map<string, unknown[]>();
  /** Streams open in this process, by run. */
  private readonly runListeners = new Map<string, Set<Listener<RunEvent>>>();
  /** The listener on the events channel while some stream is open here (resolves to its removal). */
  private events?: Promise<() => void>;
  private flushTimer?: NodeJS.Timeout;

  constructor(config: AppConfig, @Optional() jobs?: JobQueue) {
    this.redisUrl = jobs?.backend === 'bull' ? config.REDIS_URL : undefined;
    this.prefix = `${config.QUEUE_PREFIX}:workflow`;
  }

  get distributed(): boolean {
    return this.redisUrl !== undefined;
  }

  publish(event: RunEvent): void {
    this.send(this.eventsChannel, event);
  }

  private get eventsChannel(): string {
    return `${this.prefix}:events`;
  }

  /** Sent at once, not after FLUSH_MS: a cancel should reach the other workers before they take its run's next jobs. */
  control(message: ControlMessage): void {
    this.send(`${this.prefix}:control`, message);
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flush();
    }
  }

  /** Calls `listener` with each event of the run until the returned function is called. Resolves once subscribed. */
  async subscribe(runId: string, listener: Listener<RunEvent>): Promise<() => void> {
    let listeners = this.runListeners.get(runId);
    if (!listeners) this.runListeners.set(runId, (listeners = new Set()));
    listeners.add(listener);
    const stop = () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.runListeners.get(runId) === listeners) this.runListeners.delete(runId);
      if (this.runListeners.size === 0 && this.events) {
        void this.events.then((unlisten) => unlisten()).catch(() => undefined);
        this.events = undefined;
      }
    };
    try {
      // One listener on the shared channel, however many streams start at once.
      await (this.events ??= this.listen(this.eventsChannel, (message) => this.deliver(message as RunEvent)));
    } catch (error) {
      this.events = undefined;
      stop();
      throw error;
    }
    return stop;
  }

  onControl(listener: Listener<ControlMessage>): Promise<() => void> {
    return this.listen(`${this.prefix}:control`, listener as Listener<unknown>);
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flush();
    this.channelListeners.clear();
    await Promise.all([this.publisher?.quit().catch(() => undefined), this.subscriber?.quit().catch(() => undefined)]);
  }

  private send(channel: string, message: unknown): void {
    if (!this.redisUrl) {
      this.local.emit(channel, message);
      return;
    }
    // Batched: one PUBLISH per channel (a JSON array) every FLUSH_MS, all of them in one write.
    const queued = this.outbox.get(channel);
    if (queued) queued.push(message);
    else this.outbox.set(channel, [message]);
    this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  private deliver(event: RunEvent): void {
    const listeners = this.runListeners.get(event?.runId);
    if (listeners) for (const listener of listeners) listener(event);
  }

  private flush(): void {
    this.flushTimer = undefined;
    if (this.outbox.size === 0) return;
    this.publisher ??= this.connect('publisher');
    for (const [channel, messages] of this.outbox) {
      this.publisher.publish(channel, JSON.stringify(messages)).catch((error: Error) => this.logger.warn(`publish failed: ${error.message}`));
    }
    this.outbox.clear();
  }

  private async listen(channel: string, listener: Listener<unknown>): Promise<() => void> {
    if (!this.redisUrl) {
      this.local.on(channel, listener);
      return () => void this.local.off(channel, listener);
    }
    if (!this.subscriber) {
      this.subscriber = this.connect('subscriber');
      this.subscriber.on('message', (from: string, text: string) => {
        const listeners = this.channelListeners.get(from);
        if (!listeners) return;
        let messages: unknown[];
        try {
          messages = JSON.parse(text);
        } catch {
          return;
        }
        for (const message of Array.isArray(messages) ? messages : [messages]) for (const each of listeners) each(message);
      });
    }
    let listeners = this.channelListeners.get(channel);
    if (!listeners) {
      listeners = new Set();
      this.channelListeners.set(channel, listeners);
      await this.subscriber.subscribe(channel);
    }
    listeners.add(listener);
    return () => {
      const current = this.channelListeners.get(channel);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) {
        this.channelListeners.delete(channel);
        void this.subscriber?.unsubscribe(channel).catch(() => undefined);
      }
    };
  }

  private connect(role: string): Redis {
    // Auto-pipelining: the events of one tick (a step's status, its dependents queued…) go in one write.
    const client = new Redis(this.redisUrl!, { maxRetriesPerRequest: null, enableReadyCheck: true, enableAutoPipelining: role === 'publisher' });
    client.on('error', (error: Error) => this.logger.warn(`Redis ${role}: ${error.message}`));
    return client;
  }
}
