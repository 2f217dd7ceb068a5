import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import type { Scope } from '../access/api-key.entity.js';
import { Workspace } from '../access/workspace.entity.js';
import type { DefinitionSnapshot, WorkflowRunStatus } from './workflow-definition.js';
import { Workflow } from './workflow.entity.js';

/**
 * One execution of a workflow. It runs the definition it was started with (`definition`), so
 * updating the workflow never changes a run in progress. PostgreSQL holds its whole state.
 */
@Entity('workflow_runs')
@Index('ix_workflow_runs_workflow_created', ['workflowId', 'createdAt'])
@Index('ix_workflow_runs_active', ['status'], { where: `"status" IN ('queued', 'running')` })
export class WorkflowRun {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  workspaceId!: string;

  @ManyToOne(() => Workspace, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id', foreignKeyConstraintName: 'fk_workflow_runs_workspace' })
  workspace?: Relation<Workspace>;

  @Column({ type: 'uuid' })
  workflowId!: string;

  @ManyToOne(() => Workflow, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'workflow_id', foreignKeyConstraintName: 'fk_workflow_runs_workflow' })
  workflow?: Relation<Workflow>;

  @Column({ type: 'integer' })
  workflowVersion!: number;

  @Column({ type: 'jsonb' })
  definition!: DefinitionSnapshot;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  input!: unknown;

  /** The scope of the key that started the run, or of the one that retried it last: what its steps may do through the API at most. */
  @Column({ type: 'varchar', length: 10, default: 'write' })
  startedScope!: Scope;

  @Column({ type: 'varchar', length: 20, default: 'queued' })
  status!: WorkflowRunStatus;

  /** The outputs of the steps nothing else needs, by step id. */
  @Column({ type: 'jsonb', nullable: true })
  output!: Record<string, unknown> | null;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  /** Steps not finished yet: the run ends when the last one does. */
  @Column({ type: 'integer', default: 0 })
  remainingSteps!: number;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @Column({ type: 'timestamptz', nullable: true })
  startedAt!: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;
}
