// The verification page of device login (RFC 8628 §3.3): `/device`, or `/device?code=XXXX-XXXX`
// from the link `perimeter login` prints. A person enters the code their terminal shows and the
// invitation token their admin gave them; the page shows which device asks (RFC 8628 §5.4: so
// nobody approves a login they did not start) and approves or denies it through
// POST /api/v1/device/verification. No cookies, no session: the invitation is the credential, so
// there is nothing for another site to forge a request with. The script is its own file so the
// CSP can forbid inline script.

export const DEVICE_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Perimeter — log in a device</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; }
input, button { font: inherit; padding: .4rem; } input { width: 100%; box-sizing: border-box; }
#code { text-transform: uppercase; letter-spacing: .1em; } .error { color: #b00; }
</style>
</head>
<body>
<h1>Log in a device</h1>
<form id="check">
<p><label>The code your terminal shows<br><input id="code" required autocomplete="off" placeholder="XXXX-XXXX"></label></p>
<p><label>Your invitation token (from your admin)<br><input id="invitation" required autocomplete="off" placeholder="pmi_…"></label></p>
<p><button type="submit">Continue</button></p>
</form>
<div id="confirm" hidden>
<p>The device <strong id="device"></strong> asked at <span id="asked"></span> to log in as <strong id="user"></strong>.</p>
<p>Approve only if you started this login yourself, on that device, just now.</p>
<p><button id="approve" type="button">Approve</button> <button id="deny" type="button">Deny</button></p>
</div>
<p id="done" hidden></p>
<p id="error" class="error"></p>
<script src="/device.js"></script>
</body>
</html>
`;

export const DEVICE_PAGE_JS = `'use strict';
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var code = new URLSearchParams(location.search).get('code');
  if (code) $('code').value = code;
  function send(decision) {
    $('error').textContent = '';
    var body = { userCode: $('code').value, invitation: $('invitation').value.trim() };
    if (decision) body.decision = decision;
    return fetch('/api/v1/device/verification', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, json: j }; }); })
      .then(function (r) {
        if (!r.ok) { $('error').textContent = r.json.error.message + (r.json.error.hint ? ' (' + r.json.error.hint + ')' : ''); return undefined; }
        return r.json;
      })
      .catch(function () { $('error').textContent = 'The server did not answer.'; return undefined; });
  }
  $('check').addEventListener('submit', function (e) {
    e.preventDefault();
    send().then(function (j) {
      if (!j) return;
      $('device').textContent = j.device.name;
      $('asked').textContent = new Date(j.device.requestedAt).toLocaleString();
      $('user').textContent = j.user.email;
      $('check').hidden = true;
      $('confirm').hidden = false;
    });
  });
  function decide(decision) {
    send(decision).then(function (j) {
      if (!j) return;
      $('confirm').hidden = true;
      $('done').hidden = false;
      $('done').textContent = j.status === 'approved'
        ? 'Approved. The device finishes logging in by itself; you can close this page.'
        : 'Denied. The device will not be logged in.';
    });
  }
  $('approve').addEventListener('click', function () { decide('approve'); });
  $('deny').addEventListener('click', function () { decide('deny'); });
})();
`;

export const DEVICE_PAGE_CSP =
  "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";
