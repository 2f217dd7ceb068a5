import { Column, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn, Unique } from 'typeorm';
import type { Relation } from 'typeorm';
import type { StepRunStatus } from './workflow-definition.js';
import { WorkflowRun } from './workflow-run.entity.js';

export interface StepLogLine {
  at: string;
  level: 'info' | 'warn' | 'error';
  message: string;
}

/** One step of one run, across its attempts. Written only by the engine (StepRunStore). */
@Entity('workflow_step_runs')
@Unique('uq_workflow_step_runs_run_step', ['runId', 'stepId'])
export class StepRun {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  runId!: string;

  @ManyToOne(() => WorkflowRun, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'run_id', foreignKeyConstraintName: 'fk_workflow_step_runs_run' })
  run?: Relation<WorkflowRun>;

  @Column({ type: 'varchar', length: 64 })
  stepId!: string;

  @Column({ type: 'varchar', length: 64 })
  type!: string;

  @Column({ type: 'varchar', length: 20, default: 'pending' })
  status!: StepRunStatus;

  /** 1 on the first attempt; each retry (automatic or through the run's retry) adds one. */
  @Column({ type: 'integer', default: 1 })
  attempt!: number;

  /** The attempt after which a failure is final (attempt + retry.attempts − 1 when a round starts). */
  @Column({ type: 'integer', default: 1 })
  lastAttempt!: number;

  /** Times a worker claimed this step: fences a worker that lost its claim (timed-out heartbeat). */
  @Column({ type: 'integer', default: 0 })
  executions!: number;

  /** Needs not finished yet (met); the step is queued when it reaches 0. */
  @Column({ type: 'integer', default: 0 })
  remainingNeeds!: number;

  /** The config as resolved for the last attempt, secrets masked. */
  @Column({ type: 'jsonb', nullable: true })
  config!: unknown;

  @Column({ type: 'jsonb', nullable: true })
  output!: unknown;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ type: 'jsonb', default: () => "'[]'" })
  logs!: StepLogLine[];

  /** What an executor saved to resume after a crash (ctx.saveCheckpoint): kept across executions and attempts. */
  @Column({ type: 'jsonb', nullable: true })
  checkpoint!: unknown;

  /** A retry waits until then. */
  @Column({ type: 'timestamptz', nullable: true })
  notBefore!: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  heartbeatAt!: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @Column({ type: 'timestamptz', nullable: true })
  startedAt!: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;
}
