import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import { Workspace } from '../access/workspace.entity.js';
import type { StepDefinition } from './workflow-definition.js';

/** A workflow definition: steps and their dependencies. Each update bumps `version`. */
@Entity('workflows')
@Index('ix_workflows_workspace_created', ['workspaceId', 'createdAt'])
export class Workflow {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  workspaceId!: string;

  @ManyToOne(() => Workspace, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id', foreignKeyConstraintName: 'fk_workflows_workspace' })
  workspace?: Relation<Workspace>;

  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Column({ type: 'text', default: '' })
  description!: string;

  @Column({ type: 'integer', default: 1 })
  version!: number;

  /** Validated and normalised (validateDefinition). */
  @Column({ type: 'jsonb' })
  steps!: StepDefinition[];

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;
}
