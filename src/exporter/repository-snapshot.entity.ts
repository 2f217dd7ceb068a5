import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import { GeneratedProject } from '../projects/generated-project.entity.js';

/**
 * The tree of a branch's latest export: path → blob id and folder → tree id, so the next export
 * rewrites only what changed without reading old trees back. Valid only while the branch still
 * points at `commitSha` (checked before use).
 */
@Entity('repository_snapshots')
export class RepositorySnapshot {
  @PrimaryColumn({ type: 'uuid' })
  projectId!: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  branch!: string;

  @ManyToOne(() => GeneratedProject, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'project_id', foreignKeyConstraintName: 'fk_repository_snapshots_project' })
  project?: Relation<GeneratedProject>;

  @Column({ type: 'char', length: 40 })
  commitSha!: string;

  @Column({ type: 'char', length: 40 })
  treeSha!: string;

  /** tree-builder's serialised snapshot (JSON, stored as text: never queried inside). */
  @Column({ type: 'text' })
  entries!: string;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;
}
