/**
 * The interactive reference page at /api/v1/docs: reads /api/v1/openapi.json and lists every
 * operation with its parameters and schemas, and a form to send it (with the page's session or a
 * pasted token). Self-contained — no CDN, no external fonts — so it works offline.
 */
export function referencePage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Weir admin API</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #fafafa; }
  header { padding: 1rem 2rem; background: #12324a; color: #fff; }
  main { max-width: 60rem; margin: 0 auto; padding: 1rem 2rem; }
  h2 { margin-top: 2rem; text-transform: capitalize; }
  details { background: #fff; border: 1px solid #c9d1d9; border-radius: 6px; margin: .5rem 0; }
  summary { padding: .5rem .75rem; cursor: pointer; }
  .m { display: inline-block; min-width: 4.5rem; font-weight: 700; font-family: ui-monospace, monospace; }
  .get { color: #0a5a2a; } .post { color: #7a4d00; } .put { color: #0b4f8a; } .delete { color: #a1151b; }
  .body { padding: 0 .75rem .75rem; }
  pre { background: #f0f3f6; padding: .5rem; overflow: auto; max-height: 20rem; }
  label { display: block; margin: .25rem 0; }
  input, textarea { font: inherit; width: 100%; box-sizing: border-box; }
  button { font: inherit; padding: .25rem 1rem; }
  :focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
</style>
</head>
<body>
<header><h1>Weir admin API</h1><p id="intro"></p>
<label>Access token (optional; otherwise your session is used) <input id="token" type="password" autocomplete="off"></label></header>
<main id="ops" aria-live="polite">Loading /api/v1/openapi.json…</main>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
let csrf = null;
fetch('/api/v1/me').then((r) => r.ok ? r.json() : null).then((me) => { csrf = me && me.csrfToken; }).catch(() => {});
fetch('/api/v1/openapi.json').then((r) => r.json()).then((doc) => {
  document.getElementById('intro').textContent = doc.info.description;
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(item)) (byTag[op.tags[0]] ??= []).push({ path, method, op });
  const main = document.getElementById('ops');
  main.innerHTML = '';
  for (const [tag, ops] of Object.entries(byTag)) {
    const h = document.createElement('h2'); h.textContent = tag; main.append(h);
    for (const { path, method, op } of ops) {
      const d = document.createElement('details');
      const params = (op.parameters || []).map((p) => '<label>' + esc(p.name) + ' (' + p.in + (p.required ? ', required' : '') + ')<input data-in="' + p.in + '" data-name="' + esc(p.name) + '"></label>').join('');
      const body = op.requestBody ? '<label>JSON body<textarea rows="6" data-body></textarea></label><details><summary>Body schema</summary><pre>' + esc(JSON.stringify(op.requestBody.content['application/json'].schema, null, 2)) + '</pre></details>' : '';
      d.innerHTML = '<summary><span class="m ' + method + '">' + method.toUpperCase() + '</span> <code>' + esc(path) + '</code> — ' + esc(op.summary) + '</summary><div class="body"><form>' + params + body + '<button>Send</button></form><pre hidden></pre></div>';
      d.querySelector('form').addEventListener('submit', async (e) => {
        e.preventDefault();
        let url = path; const query = new URLSearchParams(); const headers = {};
        for (const input of d.querySelectorAll('input[data-in]')) {
          if (input.value === '') continue;
          if (input.dataset.in === 'path') url = url.replace('{' + input.dataset.name + '}', encodeURIComponent(input.value));
          else if (input.dataset.in === 'query') query.set(input.dataset.name, input.value);
          else headers[input.dataset.name] = input.value;
        }
        const token = document.getElementById('token').value;
        if (token) headers.authorization = 'Bearer ' + token; else if (csrf) headers['x-csrf-token'] = csrf;
        const text = d.querySelector('textarea[data-body]');
        if (text) headers['content-type'] = 'application/json';
        const res = await fetch(url + (query.size ? '?' + query : ''), { method: method.toUpperCase(), headers, body: text ? text.value : undefined });
        const out = d.querySelector('pre[hidden], pre.out'); out.hidden = false; out.className = 'out';
        out.textContent = res.status + ' ' + res.statusText + '\\n' + (res.headers.get('etag') ? 'ETag: ' + res.headers.get('etag') + '\\n' : '') + await res.text();
      });
      main.append(d);
    }
  }
});
</script>
</body>
</html>`;
}
