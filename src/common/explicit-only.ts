import { ApiExtension } from '@nestjs/swagger';

/** The OpenAPI extension that carries it; its value says why. */
export const EXPLICIT_ONLY = 'x-explicit-only';

/**
 * Marks an operation that an allow-list (an agent's) reaches only by its exact operationId, never
 * by a `*` pattern: one that starts, defines or stops other automation, holds or manages
 * credentials, or sends data out of the service. DELETE operations and those needing the admin
 * scope are explicit-only without it. Put it next to @ApiOperation (or on a controller, for all of
 * its operations); `reason` is shown by GET /api/agents/tools.
 */
export const ExplicitOnly = (reason: string) => ApiExtension(EXPLICIT_ONLY, reason);
