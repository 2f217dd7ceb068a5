import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import { Workspace } from '../access/workspace.entity.js';

/** A configured Claude agent: what it may call, how long and how much it may run. */
@Entity('agents')
@Index('ix_agents_workspace_created', ['workspaceId', 'createdAt'])
export class Agent {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  workspaceId!: string;

  @ManyToOne(() => Workspace, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id', foreignKeyConstraintName: 'fk_agents_workspace' })
  workspace?: Relation<Workspace>;

  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Column({ type: 'varchar', length: 100 })
  model!: string;

  @Column({ type: 'text', default: '' })
  systemPrompt!: string;

  /** operationIds and `*` patterns; deletes and access management only by exact name. */
  @Column({ type: 'text', array: true, default: () => "'{}'" })
  allowedOperations!: string[];

  /** When set, the run must end by calling `submit_result` with an input valid against it. */
  @Column({ type: 'jsonb', nullable: true })
  outputSchema!: Record<string, unknown> | null;

  @Column({ type: 'integer' })
  maxIterations!: number;

  @Column({ type: 'integer' })
  maxTokensPerRun!: number;

  /** Deprecated: refused since API version 2026-10-21 has no sampling parameters; kept for older agents' values, never sent. */
  @Column({ type: 'real', nullable: true })
  temperature!: number | null;

  @Column({ type: 'integer' })
  runTimeoutMs!: number;

  @Column({ type: 'integer' })
  toolTimeoutMs!: number;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;
}
