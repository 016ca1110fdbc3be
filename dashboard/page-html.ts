/** Text safe inside HTML (element content and quoted attributes). */
export function escapeHtml(value: string | number): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A whole page of the dashboard's own views: plain server-rendered HTML, no script. */
export function pageHtml(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}
form{display:inline}
button{cursor:pointer}
pre{white-space:pre-wrap;max-width:60rem;font-size:.8rem}
</style></head>
<body><h1>${escapeHtml(title)}</h1>
${body}
</body></html>`;
}
