import { Injectable } from '@nestjs/common';
import type { OpenAPIObject } from '@nestjs/swagger';

/**
 * The service's own OpenAPI document at runtime. bootstrap.ts builds it once the routes exist
 * (SwaggerModule.createDocument) and puts it here; the agents' tool catalog reads it.
 */
@Injectable()
export class OpenApiDocumentHolder {
  private document: OpenAPIObject | null = null;
  private version = 0;

  set(document: OpenAPIObject): void {
    this.document = document;
    this.version++;
  }

  /** Bumps whenever the document is replaced, so derived caches know to rebuild. */
  get revision(): number {
    return this.version;
  }

  get(): OpenAPIObject {
    if (!this.document) throw new Error('The OpenAPI document is not built yet (bootstrap.ts sets it after SwaggerModule.createDocument)');
    return this.document;
  }

  get ready(): boolean {
    return this.document !== null;
  }
}
