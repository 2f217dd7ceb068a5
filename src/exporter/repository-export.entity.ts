import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import { Workspace } from '../access/workspace.entity.js';
import { GeneratedProject } from '../projects/generated-project.entity.js';
import { GitCredential } from './git-credential.entity.js';

export const EXPORT_STATUSES = ['queued', 'running', 'succeeded', 'failed'] as const;
export type ExportStatus = (typeof EXPORT_STATUSES)[number];

/** What a push did, as returned over the API. */
export interface PushResult {
  remoteUrl: string;
  remoteBranch: string;
  forced: boolean;
  /** Each ref the remote updated: the branch, and the tag when there is one. */
  refs: Array<{ ref: string; ok: boolean; error?: string }>;
}

/**
 * One export of a project to its Git repository (and, optionally, a push). The row is the state
 * of the work: the background job only says "work on row X", and reads everything from here.
 */
@Entity('repository_exports')
@Check('ck_repository_exports_status', `"status" IN ('queued', 'running', 'succeeded', 'failed')`)
@Index('ix_repository_exports_project_created', ['projectId', 'createdAt'])
// The recovery sweep looks for unfinished exports: a small partial index.
@Index('ix_repository_exports_unfinished', ['createdAt'], { where: `"status" IN ('queued', 'running')` })
export class RepositoryExport {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  workspaceId!: string;

  @ManyToOne(() => Workspace, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id', foreignKeyConstraintName: 'fk_repository_exports_workspace' })
  workspace?: Relation<Workspace>;

  @Column({ type: 'uuid' })
  projectId!: string;

  @ManyToOne(() => GeneratedProject, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'project_id', foreignKeyConstraintName: 'fk_repository_exports_project' })
  project?: Relation<GeneratedProject>;

  @Column({ type: 'varchar', length: 20, default: 'queued' })
  status!: ExportStatus;

  @Column({ type: 'varchar', length: 255, default: 'main' })
  branch!: string;

  @Column({ type: 'varchar', length: 255, nullable: true })
  tag!: string | null;

  /** The commit message as requested (the trailers are added to the commit itself). */
  @Column({ type: 'text' })
  message!: string;

  @Column({ type: 'varchar', length: 200 })
  authorName!: string;

  @Column({ type: 'varchar', length: 200 })
  authorEmail!: string;

  @Column({ type: 'boolean', default: false })
  allowEmpty!: boolean;

  /** Extra `Key: value` trailers (workflow run and step, for instance), after the standard ones. */
  @Column({ type: 'jsonb', default: [] })
  trailers!: Array<[string, string]>;

  @Column({ type: 'char', length: 40, nullable: true })
  commitSha!: string | null;

  @Column({ type: 'char', length: 40, nullable: true })
  parentSha!: string | null;

  @Column({ type: 'boolean', nullable: true })
  unchanged!: boolean | null;

  @Column({ type: 'integer', nullable: true })
  fileCount!: number | null;

  /** Without credentials, ever. */
  @Column({ type: 'text', nullable: true })
  remoteUrl!: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  remoteBranch!: string | null;

  @Column({ type: 'boolean', default: false })
  remoteForce!: boolean;

  @Column({ type: 'uuid', nullable: true })
  credentialId!: string | null;

  @ManyToOne(() => GitCredential, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'credential_id', foreignKeyConstraintName: 'fk_repository_exports_credential' })
  credential?: Relation<GitCredential>;

  /**
   * Credentials given inline with the request, encrypted by SecretsService, kept only until the
   * export finishes (then set to null): the worker that pushes may be another process.
   */
  @Column({ type: 'text', nullable: true, select: false })
  inlineCredential?: string | null;

  @Column({ type: 'jsonb', nullable: true })
  pushResult!: PushResult | null;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  /** Runs started so far (retries and recoveries included). */
  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;

  @Column({ type: 'timestamptz', nullable: true })
  startedAt!: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;

  @Column({ type: 'integer', nullable: true })
  durationMs!: number | null;
}
