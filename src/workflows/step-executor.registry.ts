import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { SchemaCheck, StepSchemaCompiler } from './json-schema.js';
import { JsonSchema, StepExecutorMetadata, StepExecutorOptions, StepHandler } from './step-executor.js';

export const STEP_TYPE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

export interface RegisteredStepType {
  type: string;
  description: string;
  input: JsonSchema;
  output: JsonSchema;
  /** Config fields that may hold secrets (StepExecutorOptions.secretFields). */
  secretFields: string[];
  handler: StepHandler<Record<string, unknown>, unknown>;
  /** The resolved config, before `run`. */
  checkConfig(config: unknown): SchemaCheck;
  /** The config as written in a definition (expressions stand for any value). */
  checkDefinitionConfig(config: unknown): SchemaCheck;
  checkOutput(output: unknown): SchemaCheck;
}

/**
 * Every step type of the application, discovered at boot from the providers marked with
 * @StepExecutor (in any module). A duplicate type, a bad type name, or a schema missing or not
 * compiling stops the start-up: no `switch` over types exists anywhere.
 */
@Injectable()
export class StepExecutorRegistry implements OnModuleInit {
  private readonly logger = new Logger('StepExecutors');
  private readonly types = new Map<string, RegisteredStepType>();
  private readonly compiler = new StepSchemaCompiler();

  constructor(private readonly discovery: DiscoveryService) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders({ metadataKey: StepExecutorMetadata.KEY })) {
      const options = this.discovery.getMetadataByDecorator(StepExecutorMetadata, wrapper);
      const name = wrapper.metatype?.name ?? String(wrapper.token);
      if (!options || !wrapper.instance) continue;
      this.add(options, wrapper.instance as StepHandler<Record<string, unknown>, unknown>, name);
    }
    this.logger.log(`step types: ${[...this.types.keys()].sort().join(', ')}`);
  }

  /** Registers one executor; used by discovery (and directly by unit tests). */
  add(options: StepExecutorOptions, handler: StepHandler<Record<string, unknown>, unknown>, owner = 'executor'): void {
    const { type } = options;
    if (typeof type !== 'string' || !STEP_TYPE_PATTERN.test(type)) {
      throw new Error(`${owner}: step type ${JSON.stringify(type)} must be lowercase letters, digits and "_", starting with a letter`);
    }
    const existing = this.types.get(type);
    if (existing) throw new Error(`${owner}: step type "${type}" is already provided by ${existing.handler.constructor.name}`);
    if (!options.description) throw new Error(`${owner}: step type "${type}" has no description`);
    if (typeof handler.run !== 'function') throw new Error(`${owner}: step type "${type}" has no run(config, ctx) method`);
    const compile = (schema: JsonSchema | undefined, what: 'input' | 'output', relaxed = false) => {
      if (!schema || typeof schema !== 'object' || Array.isArray(schema)) throw new Error(`${owner}: step type "${type}" declares no ${what} JSON Schema`);
      try {
        return relaxed ? this.compiler.compileRelaxed(schema) : this.compiler.compile(schema);
      } catch (error) {
        throw new Error(`${owner}: the ${what} schema of step type "${type}" does not compile: ${(error as Error).message}`);
      }
    };
    const checkConfig = compile(options.input, 'input');
    if (options.input.type !== 'object') throw new Error(`${owner}: the input schema of step type "${type}" must describe an object`);
    this.types.set(type, {
      type,
      description: options.description,
      input: options.input,
      output: options.output,
      secretFields: options.secretFields ?? [],
      handler,
      checkConfig,
      checkDefinitionConfig: compile(options.input, 'input', true),
      checkOutput: compile(options.output, 'output'),
    });
  }

  get(type: string): RegisteredStepType | undefined {
    return this.types.get(type);
  }

  list(): RegisteredStepType[] {
    return [...this.types.values()].sort((a, b) => a.type.localeCompare(b.type));
  }
}
