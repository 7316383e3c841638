import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { configProblems } from '../support/weir.js';

/** The ```yaml blocks of one `## heading` / `### heading` section of a doc. */
async function yamlBlocks(doc: string, heading: string): Promise<string[]> {
  const markdown = await readFile(new URL(`../../docs/${doc}`, import.meta.url), 'utf8');
  const start = markdown.indexOf(`${heading}\n`);
  assert.ok(start !== -1, `${doc} has "${heading}"`);
  const rest = markdown.slice(start + heading.length);
  const section = rest.slice(0, rest.search(/\n##+ /) === -1 ? undefined : rest.search(/\n##+ /));
  return [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

const SERVICES = 'services:\n  accounts: { targets: [{ url: "http://127.0.0.1:1" }] }\n';

describe('masking examples in the docs load', () => {
  it('docs/plugins.md, mask', async () => {
    const [example] = await yamlBlocks('plugins.md', '## mask');
    const route = `${SERVICES}routes:\n  - path: /x\n    service: accounts\n${example!.replace(/^/gm, '    ')}`;
    assert.deepEqual(configProblems(route), []);
  });

  it('docs/security.md, Data masking', async () => {
    const [plugin, global] = await yamlBlocks('security.md', '## Data masking');
    assert.deepEqual(configProblems(`${SERVICES}${plugin!}`), []);
    assert.deepEqual(configProblems(`${global!}${SERVICES}routes: []\n`), []);
  });

  it('docs/configuration.md, global.masking', async () => {
    const [example] = await yamlBlocks('configuration.md', '### `global.masking`');
    process.env['WEIR_MASKING_KEY'] ??= 'a test key of 16+ characters';
    assert.deepEqual(configProblems(`${example!}${SERVICES}routes: []\n`), []);
  });
});
