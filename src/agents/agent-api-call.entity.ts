import { Column, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn, Unique } from 'typeorm';
import type { Relation } from 'typeorm';
import { AgentRun } from './agent-run.entity.js';

/**
 * One tool call of a run, executed or refused. The request is the tool input with its write-only
 * fields (secret values, tokens) as [redacted]; the response body is kept up to
 * AGENT_RECORDED_RESPONSE_MAX_BYTES, with those values taken out too.
 */
@Entity('agent_api_calls')
@Unique('uq_agent_api_calls_run_sequence', ['runId', 'sequence'])
export class AgentApiCall {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  runId!: string;

  @ManyToOne(() => AgentRun, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'run_id', foreignKeyConstraintName: 'fk_agent_api_calls_run' })
  run?: Relation<AgentRun>;

  /** 1, 2, 3… in the order the calls were made. */
  @Column({ type: 'integer' })
  sequence!: number;

  @Column({ type: 'varchar', length: 200 })
  toolUseId!: string;

  /** The tool's name as the model sent it (an operationId, or an unknown name). */
  @Column({ type: 'varchar', length: 200 })
  operationId!: string;

  @Column({ type: 'varchar', length: 10, nullable: true })
  method!: string | null;

  @Column({ type: 'text', nullable: true })
  path!: string | null;

  @Column({ type: 'jsonb', nullable: true })
  request!: unknown;

  @Column({ type: 'integer', nullable: true })
  responseStatus!: number | null;

  @Column({ type: 'text', nullable: true })
  responseBody!: string | null;

  @Column({ type: 'boolean', default: false })
  responseTruncated!: boolean;

  @Column({ type: 'integer', default: 0 })
  durationMs!: number;

  /** Why the call was refused or failed before an answer (not allowed, invalid input, timeout). */
  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;
}
