import { Column, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn, Unique, UpdateDateColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import { GeneratedProject } from './generated-project.entity.js';

export const FILE_MODES = ['regular', 'executable'] as const;
export type FileMode = (typeof FILE_MODES)[number];

/** One file of a project: its normalised path, exact bytes (text and binary alike) and mode. */
@Entity('project_files')
@Unique('uq_project_files_project_path', ['projectId', 'path'])
export class ProjectFile {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  projectId!: string;

  @ManyToOne(() => GeneratedProject, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'project_id', foreignKeyConstraintName: 'fk_project_files_project' })
  project?: Relation<GeneratedProject>;

  /** NFC, relative POSIX path; byte-ordered ("C" collation) so prefix ranges use the index. */
  @Column({ type: 'text', collation: 'C' })
  path!: string;

  @Column({ type: 'bytea', select: false })
  content?: Buffer;

  @Column({ type: 'integer' })
  size!: number;

  @Column({ type: 'char', length: 64 })
  sha256!: string;

  @Column({ type: 'varchar', length: 10, default: 'regular' })
  mode!: FileMode;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;
}
