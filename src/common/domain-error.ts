/**
 * Every error the service raises on purpose has a stable code; the HTTP status is derived from
 * the code in one table, so a code means the same status everywhere.
 */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  PATH_INVALID: 400,
  CONTENT_INVALID: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  PROJECT_NOT_FOUND: 404,
  WORKSPACE_NOT_FOUND: 404,
  API_KEY_NOT_FOUND: 404,
  SECRET_NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  EXPORT_NOT_FOUND: 404,
  GIT_CREDENTIAL_NOT_FOUND: 404,
  REPOSITORY_NOT_FOUND: 404,
  GIT_CREDENTIAL_CONFLICT: 409,
  ROUTE_NOT_FOUND: 404,
  AGENT_NOT_FOUND: 404,
  AGENT_RUN_NOT_FOUND: 404,
  AGENT_RUN_FINISHED: 409,
  WORKFLOW_NOT_FOUND: 404,
  WORKFLOW_RUN_NOT_FOUND: 404,
  WORKFLOW_INVALID: 400,
  WORKFLOW_INPUT_INVALID: 400,
  WORKFLOW_RUN_FINISHED: 409,
  WORKFLOW_RUN_NOT_RETRYABLE: 409,
  LLM_NOT_CONFIGURED: 503,
  AGENT_BUSY: 503,
  SLUG_CONFLICT: 409,
  PATH_CONFLICT: 409,
  FILE_TOO_LARGE: 413,
  PROJECT_TOO_LARGE: 413,
  TOO_MANY_FILES: 413,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  TEMPLATE_NOT_FOUND: 404,
  TEMPLATE_INVALID: 400,
  TEMPLATE_VARIABLE_MISSING: 400,
  TEMPLATE_VARIABLE_INVALID: 400,
  WORKSPACE_UNSAFE: 409,
  GENERATION_BUSY: 409,
  WORKSPACE_IO_FAILED: 500,
  WORKSPACE_FULL: 507,
  RATE_LIMITED: 429,
  DATABASE_UNAVAILABLE: 503,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorDetail {
  /** The field, as a path into the request (`files[3].path`), or the query parameter. */
  field?: string;
  /** The rule that was broken, a stable machine-readable name. */
  rule?: string;
  message: string;
  [key: string]: unknown;
}

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
  ) {
    super(message);
    this.name = 'DomainError';
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}
