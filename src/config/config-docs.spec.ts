import { readFileSync } from 'node:fs';
import { AppConfig } from './app-config.js';

describe('configuration documentation', () => {
  const variables = Object.keys(new AppConfig());
  const envExample = readFileSync('.env.example', 'utf8');
  const readme = readFileSync('README.md', 'utf8');

  it.each(variables)('lists %s in .env.example', (name) => {
    expect(envExample).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
  });

  it.each(variables)('documents %s in the README configuration table', (name) => {
    expect(readme).toContain(`| \`${name}\` |`);
  });
});
