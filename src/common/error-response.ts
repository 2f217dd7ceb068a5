import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiResponse } from '@nestjs/swagger';
import { STATUS_CODES } from 'node:http';

export class ErrorDetailDto {
  @ApiPropertyOptional({ example: 'files[0].path' }) field?: string;
  @ApiPropertyOptional({ example: 'dot-dot-segment' }) rule?: string;
  @ApiProperty() message!: string;
}

/** The one shape of every error response. */
export class ErrorResponseDto {
  @ApiProperty({ example: 400 }) statusCode!: number;
  @ApiProperty({ example: 'Bad Request' }) error!: string;
  @ApiProperty({ example: 'PATH_INVALID', description: 'Stable machine-readable error code' }) code!: string;
  @ApiProperty({ example: 'files[0].path "../x" must not contain ".." segments' }) message!: string;
  @ApiPropertyOptional({ type: [ErrorDetailDto] }) details?: ErrorDetailDto[];
}

const DESCRIPTIONS: Record<number, string> = {
  400: 'The request is invalid; `details` names each field and rule',
  401: 'Missing or invalid credentials',
  403: 'The credentials lack the required scope',
  404: 'No such resource',
  409: 'Conflicts with the current state',
  413: 'A size or count limit was exceeded',
  429: 'Too many requests',
  503: 'A dependency is unavailable',
};

/** Documents the error responses of an operation, all with ErrorResponseDto. */
export function ApiErrors(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...statuses.map((status) =>
      ApiResponse({ status, description: DESCRIPTIONS[status] ?? STATUS_CODES[status], type: ErrorResponseDto }),
    ),
  );
}
