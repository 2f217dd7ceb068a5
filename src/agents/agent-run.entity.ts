import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import type { Scope } from '../access/api-key.entity.js';
import { Workspace } from '../access/workspace.entity.js';
import { Agent } from './agent.entity.js';

export const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const FINISHED_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled'];

/** Why a run stopped; each limit has its own. */
export const STOP_REASONS = [
  'end_turn',
  'result_submitted',
  'max_iterations',
  'token_budget',
  'timeout',
  'cancelled',
  'model_max_tokens',
  'context_window_exceeded',
  'refusal',
  'forbidden',
  'llm_error',
  'interrupted',
  'error',
] as const;
export type StopReason = (typeof STOP_REASONS)[number];

/** Tokens of one model request, as the API reported them. */
export interface ModelRequestUsage {
  iteration: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  stopReason: string | null;
  durationMs: number;
}

/** One execution of an agent on one input. The database is the source of truth for its state. */
@Entity('agent_runs')
@Index('ix_agent_runs_agent_created', ['agentId', 'createdAt'])
@Index('ix_agent_runs_status', ['status'])
export class AgentRun {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  workspaceId!: string;

  @ManyToOne(() => Workspace, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id', foreignKeyConstraintName: 'fk_agent_runs_workspace' })
  workspace?: Relation<Workspace>;

  @Column({ type: 'uuid' })
  agentId!: string;

  @ManyToOne(() => Agent, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'agent_id', foreignKeyConstraintName: 'fk_agent_runs_agent' })
  agent?: Relation<Agent>;

  @Column({ type: 'text' })
  input!: string;

  /** The scope of the key that started the run (a workflow's: the key that started that): the run's key never holds more. */
  @Column({ type: 'varchar', length: 10, default: 'write' })
  startedScope!: Scope;

  @Column({ type: 'varchar', length: 20, default: 'queued' })
  status!: RunStatus;

  /** The validated `submit_result` input, for agents with an output schema. */
  @Column({ type: 'jsonb', nullable: true })
  result!: unknown;

  @Column({ type: 'text', nullable: true })
  finalText!: string | null;

  @Column({ type: 'varchar', length: 40, nullable: true })
  stopReason!: StopReason | null;

  @Column({ type: 'integer', default: 0 })
  iterations!: number;

  @Column({ type: 'integer', default: 0 })
  inputTokens!: number;

  @Column({ type: 'integer', default: 0 })
  outputTokens!: number;

  @Column({ type: 'integer', default: 0 })
  cacheReadTokens!: number;

  @Column({ type: 'integer', default: 0 })
  cacheWriteTokens!: number;

  /** Per model request: tokens, stop reason and duration. */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  modelRequests!: ModelRequestUsage[];

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  /** The run's short-lived API key (its id only: the token never leaves the process's memory). */
  @Column({ type: 'uuid', nullable: true })
  apiKeyId!: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  cancelRequestedAt!: Date | null;

  /** Refreshed while the run executes; a stale one means its process died. */
  @Column({ type: 'timestamptz', nullable: true })
  heartbeatAt!: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @Column({ type: 'timestamptz', nullable: true })
  startedAt!: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;
}
