import { Controller, Get } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { Public } from '../access/auth-context.js';
import { ApiErrors } from '../common/error-response.js';
import { DomainError } from '../common/domain-error.js';

class LivenessDto {
  @ApiProperty({ example: 'ok' }) status!: string;
}

class HealthDto {
  @ApiProperty({ example: 'ok' }) status!: string;
  @ApiProperty({ example: { database: { status: 'up' } } }) info!: Record<string, unknown>;
}

const DB_PING_TIMEOUT_MS = 2_000;

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
  ) {}

  @Get()
  @ApiOperation({ operationId: 'getHealth', summary: 'Liveness and database readiness' })
  @ApiOkResponse({ type: HealthDto })
  @ApiErrors(503)
  async check(): Promise<HealthDto> {
    try {
      const result = await this.health.check([() => this.db.pingCheck('database', { timeout: DB_PING_TIMEOUT_MS })]);
      return { status: result.status, info: result.info ?? {} };
    } catch {
      throw new DomainError('DATABASE_UNAVAILABLE', 'Not ready: the database does not answer');
    }
  }

  @Get('live')
  // A probe is not a browser page nor a client to throttle: no security headers, no rate limit.
  @RouteConfig({ helmet: { skipRoute: true }, rateLimit: false })
  @ApiOperation({ operationId: 'getLiveness', summary: 'Liveness only: answers without touching the database' })
  @ApiOkResponse({ type: LivenessDto })
  live(): LivenessDto {
    return { status: 'ok' };
  }
}
