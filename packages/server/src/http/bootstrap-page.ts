// The page behind the bootstrap link (`/bootstrap#pmb_…`): the token travels in the fragment,
// which browsers never send, so it stays out of request logs and proxies. The page asks for the
// first owner's email, exchanges the token (POST /api/v1/bootstrap) and shows the API token once.
// The script is a file of its own so the page's CSP can forbid inline script.

export const BOOTSTRAP_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Perimeter — claim this server</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; }
input, button { font: inherit; padding: .4rem; } input { width: 100%; box-sizing: border-box; }
code { background: #f3f3f3; padding: .1rem .3rem; word-break: break-all; } .error { color: #b00; }
</style>
</head>
<body>
<h1>Claim this Perimeter server</h1>
<p>You become the organisation's first owner and get an API token. The link works once.</p>
<form id="claim">
<p><label>Your email<br><input id="email" type="email" required autocomplete="email"></label></p>
<p><label>Your name (optional)<br><input id="name" autocomplete="name"></label></p>
<p><button type="submit">Claim</button></p>
</form>
<div id="result" hidden>
<p>Your API token (shown once; keep it like a password):</p>
<p><code id="secret"></code></p>
<p>Use it as <code>Authorization: Bearer …</code> against <code>/api/v1</code>.</p>
</div>
<p id="error" class="error"></p>
<script src="/bootstrap.js"></script>
</body>
</html>
`;

export const BOOTSTRAP_JS = `'use strict';
(function () {
  var token = location.hash.slice(1);
  history.replaceState(null, '', location.pathname);
  var form = document.getElementById('claim');
  var error = document.getElementById('error');
  if (!token) { error.textContent = 'This link has no token: open the link the server printed.'; form.hidden = true; return; }
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    error.textContent = '';
    var body = { token: token, email: document.getElementById('email').value };
    var name = document.getElementById('name').value;
    if (name) body.name = name;
    fetch('/api/v1/bootstrap', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, json: j }; }); })
      .then(function (r) {
        if (!r.ok) { error.textContent = r.json.error.message + (r.json.error.hint ? ' (' + r.json.error.hint + ')' : ''); return; }
        form.hidden = true;
        document.getElementById('secret').textContent = r.json.token.secret;
        document.getElementById('result').hidden = false;
      })
      .catch(function () { error.textContent = 'The server did not answer.'; });
  });
})();
`;

export const BOOTSTRAP_CSP =
  "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";
