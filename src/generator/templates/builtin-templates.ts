import type { BuiltinTemplate } from '../template-definition.js';
import { nestjsServiceTemplate } from './nestjs-service.template.js';
import { nodeCliTemplate } from './node-cli.template.js';
import { typescriptLibraryTemplate } from './typescript-library.template.js';

/** The templates every workspace can instantiate (GET /api/templates). */
export const BUILTIN_TEMPLATES: readonly BuiltinTemplate[] = [nestjsServiceTemplate, typescriptLibraryTemplate, nodeCliTemplate];

export const BUILTIN_TEMPLATE_NAMES = BUILTIN_TEMPLATES.map((template) => template.name);
