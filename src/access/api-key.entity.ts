import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import { Workspace } from './workspace.entity.js';

export const SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** A bearer token of one workspace. Only its SHA-256 is stored; the token is shown once. */
@Entity('api_keys')
export class ApiKey {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Index('ix_api_keys_workspace')
  @Column({ type: 'uuid' })
  workspaceId!: string;

  @ManyToOne(() => Workspace, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id', foreignKeyConstraintName: 'fk_api_keys_workspace' })
  workspace?: Relation<Workspace>;

  @Column({ type: 'varchar', length: 200 })
  name!: string;

  /** The token's first characters, to recognise it in lists ("fl_Ab3d…"). */
  @Column({ type: 'varchar', length: 16 })
  prefix!: string;

  @Column({ type: 'char', length: 64, unique: true, select: false })
  tokenHash!: string;

  @Column({ type: 'text', array: true })
  scopes!: Scope[];

  /** The only operationIds this key may call (an agent run's key); null: every operation its scopes allow. */
  @Column({ type: 'text', array: true, nullable: true })
  allowedOperations!: string[] | null;

  @Column({ type: 'timestamptz', nullable: true })
  expiresAt!: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  lastUsedAt!: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;
}
