// Stand-in for a PowerX plugin's Nuxt admin server (web-admin/.output/server/index.mjs).
//
// Like Nitro's node-server it listens on NITRO_PORT or PORT, on NITRO_HOST or
// HOST, and serves an app built for a base URL (POWERX_ADMIN_BASE, else "/"):
// the base and every deep link below it without a file extension answer the
// single-page app's HTML, `<base>_nuxt/app.js` its script, anything else 404.
import http from "node:http";

const base = process.env.POWERX_ADMIN_BASE || "/";
const port = Number(process.env.NITRO_PORT || process.env.PORT || 3000);
const host = process.env.NITRO_HOST || process.env.HOST || "0.0.0.0";
const id = process.env.POWERX_PLUGIN_ID || "?";

const page = `<!doctype html><html><head><title>${id} admin</title>
<script type="module" src="${base}_nuxt/app.js"></script></head>
<body><div id="app" data-served-by="admin-process">${id} admin (process)</div></body></html>`;

http
  .createServer((request, response) => {
    const path = new URL(request.url, "http://x").pathname;
    console.log(`${request.method} ${request.url}`);
    if (!path.startsWith(base) && `${path}/` !== base) {
      response.writeHead(404, { "content-type": "text/plain" }).end(`not below ${base}: ${path}`);
    } else if (path === `${base}_nuxt/app.js`) {
      response.writeHead(200, { "content-type": "text/javascript" }).end("console.log('admin app');");
    } else if (!/\.[a-z0-9]+$/i.test(path)) {
      response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page);
    } else {
      response.writeHead(404, { "content-type": "text/plain" }).end(`no such file: ${path}`);
    }
  })
  .listen(port, host, () => console.log(`admin listening on ${host}:${port} below ${base}`));
