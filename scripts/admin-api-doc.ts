// Writes docs/admin-api.md from the admin API's operations. Run after changing an operation:
//   node --import tsx scripts/admin-api-doc.ts   (or: npm run docs)
// test/admin/docs.test.ts fails while the committed file is stale.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { renderAdminApiDoc } from '../test/admin/render.js';

const target = fileURLToPath(new URL('../docs/admin-api.md', import.meta.url));
await writeFile(target, renderAdminApiDoc());
console.log(`wrote ${target}`);
