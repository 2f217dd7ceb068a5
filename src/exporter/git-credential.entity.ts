import { Column, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn, Unique, UpdateDateColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import { Workspace } from '../access/workspace.entity.js';

/** A username and token for pushing to Git remotes; the token is encrypted by SecretsService and never returned. */
@Entity('git_credentials')
@Unique('uq_git_credentials_workspace_name', ['workspaceId', 'name'])
export class GitCredential {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  workspaceId!: string;

  @ManyToOne(() => Workspace, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id', foreignKeyConstraintName: 'fk_git_credentials_workspace' })
  workspace?: Relation<Workspace>;

  @Column({ type: 'varchar', length: 100 })
  name!: string;

  @Column({ type: 'varchar', length: 200 })
  username!: string;

  /** When set, the credential is sent only to remotes on this host (lowercase, with a port when not the default). */
  @Column({ type: 'varchar', length: 255, nullable: true })
  host!: string | null;

  @Column({ type: 'text', select: false })
  ciphertext?: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;
}
