/**
 * docs/admin-api.md, rendered from the OpenAPI document (so from the operations themselves):
 * `npm run docs` writes it, and a test fails while the committed file is stale.
 */
interface OpenApiOperation {
  operationId: string;
  summary: string;
  tags: string[];
  parameters?: Array<{ name: string; in: string; required?: boolean; description?: string }>;
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { description: string }>;
  security?: unknown[];
}

export function adminApiMarkdown(doc: { info: { description: string }; paths: Record<string, Record<string, OpenApiOperation>> }): string {
  const byTag = new Map<string, Array<{ path: string; method: string; op: OpenApiOperation }>>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = op.tags[0]!;
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag)!.push({ path, method, op });
    }
  }
  const lines = [
    '# Admin API',
    '',
    '<!-- Generated from the server\'s operations by `npm run docs`; do not edit by hand. -->',
    '',
    doc.info.description,
    '',
    'The machine-readable document is served at `GET /api/v1/openapi.json` (OpenAPI 3.1), and an',
    'interactive reference page at `GET /api/v1/docs` on the admin port (default `127.0.0.1:9080`).',
    '',
    '```sh',
    'curl -s -c jar -H "content-type: application/json" -d \'{"username":"admin","password":"…"}\' localhost:9080/api/v1/auth/login',
    'TOKEN=$(curl -s -b jar -H "x-csrf-token: <csrfToken from the answer>" -H "content-type: application/json" \\',
    '        -d \'{"name":"ci"}\' localhost:9080/api/v1/me/tokens | jq -r .token)',
    'curl -s -H "authorization: Bearer $TOKEN" localhost:9080/api/v1/services',
    '```',
    '',
    '## Operations',
    '',
  ];
  for (const [tag, ops] of byTag) {
    lines.push(`### ${tag}`, '');
    for (const { path, method, op } of ops) {
      lines.push(`#### \`${method.toUpperCase()} ${path}\``, '', `${op.summary}${op.security?.length === 0 ? ' *(No credentials needed.)*' : ''}`, '');
      const params = op.parameters ?? [];
      if (params.length > 0) {
        lines.push('| parameter | in | required | meaning |', '|---|---|---|---|');
        for (const p of params) lines.push(`| \`${p.name}\` | ${p.in} | ${p.required === true ? 'yes' : 'no'} | ${p.description ?? ''} |`);
        lines.push('');
      }
      const body = op.requestBody?.content['application/json']?.schema as { properties?: Record<string, { description?: string; type?: string }>; required?: string[] } | undefined;
      if (body?.properties !== undefined) {
        const required = new Set(body.required ?? []);
        lines.push(`Body (JSON): ${Object.keys(body.properties).map((k) => `\`${k}\`${required.has(k) ? '' : '?'}`).join(', ')}.`, '');
      }
      lines.push('| status | meaning |', '|---|---|');
      for (const [status, response] of Object.entries(op.responses)) lines.push(`| ${status} | ${response.description.replaceAll('|', '\\|')} |`);
      lines.push('');
    }
  }
  return `${lines.join('\n')}\n`;
}
