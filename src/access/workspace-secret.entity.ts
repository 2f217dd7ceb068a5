import { Column, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn, Unique, UpdateDateColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import { Workspace } from './workspace.entity.js';

/** A named secret of a workspace, encrypted at rest by SecretsService; never returned. */
@Entity('workspace_secrets')
@Unique('uq_workspace_secrets_workspace_name', ['workspaceId', 'name'])
export class WorkspaceSecret {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  workspaceId!: string;

  @ManyToOne(() => Workspace, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id', foreignKeyConstraintName: 'fk_workspace_secrets_workspace' })
  workspace?: Relation<Workspace>;

  @Column({ type: 'varchar', length: 100 })
  name!: string;

  @Column({ type: 'text', select: false })
  ciphertext!: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;
}
