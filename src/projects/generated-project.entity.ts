import { Column, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn, Unique, UpdateDateColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import { Workspace } from '../access/workspace.entity.js';

export const PROJECT_STATUSES = ['active', 'archived'] as const;
export type ProjectStatus = (typeof PROJECT_STATUSES)[number];

const bigintAsNumber = { to: (value: number) => value, from: (value: string | null) => (value === null ? 0 : Number(value)) };

/** A project an agent (or a person) builds: its files live in ProjectFile rows. */
@Entity('generated_projects')
@Unique('uq_generated_projects_workspace_slug', ['workspaceId', 'slug'])
export class GeneratedProject {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  workspaceId!: string;

  @ManyToOne(() => Workspace, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id', foreignKeyConstraintName: 'fk_generated_projects_workspace' })
  workspace?: Relation<Workspace>;

  @Column({ type: 'varchar', length: 200 })
  name!: string;

  /** Unique within the workspace; names the project in URLs (e.g. its Git clone URL). */
  @Column({ type: 'varchar', length: 100 })
  slug!: string;

  @Column({ type: 'text', default: '' })
  description!: string;

  @Column({ type: 'varchar', length: 20, default: 'active' })
  status!: ProjectStatus;

  @Column({ type: 'jsonb', default: {} })
  metadata!: Record<string, unknown>;

  /** Kept by the files service in the same transaction as every file change. */
  @Column({ type: 'integer', default: 0 })
  fileCount!: number;

  @Column({ type: 'bigint', default: 0, transformer: bigintAsNumber })
  totalBytes!: number;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;
}
