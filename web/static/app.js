/* threatdesk web desk - progressive enhancement, one file, no framework.
 * Every page works without it (plain forms and links); with it:
 *   queue    live arrivals (Server-Sent Events on /events), a notification
 *            for critical ones, j/k/Enter, relative times kept fresh
 *   message  r / d / e / j / k / ? keys
 *   case     evidence by drag and drop or the phone's camera
 *   report   kept in IndexedDB and sent when the phone is online again
 *            (the service worker /sw.js keeps the form itself offline)
 * CSP: loaded from 'self', no inline script or style anywhere. */
(function () {
  'use strict';
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : '';
  var page = document.body.getAttribute('data-page') || '';
  var live = document.getElementById('live');

  function say(text) {
    if (!live) return;
    live.textContent = text;
    clearTimeout(say.t);
    say.t = setTimeout(function () { live.textContent = ''; }, 8000);
  }

  function typing(e) {
    var t = e.target;
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  }

  /* ---- help (?) ---- */
  function help() {
    var d = document.getElementById('keys-help');
    if (!d) {
      d = document.createElement('dialog');
      d.id = 'keys-help';
      d.setAttribute('aria-labelledby', 'keys-help-title');
      var h = document.createElement('h2');
      h.id = 'keys-help-title';
      h.textContent = 'Keyboard';
      d.appendChild(h);
      var ul = document.createElement('ul');
      [['j / k', 'next / previous message'], ['Enter', 'open it'], ['r', 'mark reviewed'],
       ['d', 'dismiss (type the reason)'], ['e', 'escalate (type why)'], ['?', 'this help'],
       ['Esc', 'close']].forEach(function (k) {
        var li = document.createElement('li');
        var kb = document.createElement('kbd');
        kb.textContent = k[0];
        li.appendChild(kb);
        li.appendChild(document.createTextNode(' ' + k[1]));
        ul.appendChild(li);
      });
      d.appendChild(ul);
      var b = document.createElement('button');
      b.type = 'button';
      b.textContent = 'Close';
      b.addEventListener('click', function () { d.close(); });
      d.appendChild(b);
      document.body.appendChild(d);
    }
    if (d.open) d.close(); else d.showModal();
  }

  /* ---- relative times ---- */
  function relative(iso) {
    var s = (Date.now() - Date.parse(iso)) / 1000;
    if (!(s >= 0)) s = 0;
    if (s < 60) return 'just now';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    if (s < 172800) return 'yesterday';
    return Math.floor(s / 86400) + ' days ago';
  }
  function refreshTimes() {
    document.querySelectorAll('.queue time[datetime]').forEach(function (t) {
      t.textContent = relative(t.getAttribute('datetime'));
    });
  }

  /* ---- the queue ---- */
  var sel = -1;
  function rows() { return Array.prototype.slice.call(document.querySelectorAll('#queue-list .row')); }
  function select(i) {
    var r = rows();
    if (!r.length) return;
    sel = Math.max(0, Math.min(r.length - 1, i));
    r.forEach(function (x) { x.classList.remove('sel'); });
    r[sel].classList.add('sel');
    var a = r[sel].querySelector('a.open');
    if (a) a.focus();
  }

  function reloadQueue(freshId) {
    return fetch(location.pathname + location.search, { credentials: 'same-origin' })
      .then(function (res) { return res.ok ? res.text() : Promise.reject(res.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        ['queue-list', 'queue-count'].forEach(function (id) {
          var now = document.getElementById(id), next = doc.getElementById(id);
          if (now && next) now.replaceWith(document.importNode(next, true));
        });
        var empty = document.querySelector('.empty');
        if (empty && rows().length) empty.remove();
        if (freshId) {
          var row = document.querySelector('#queue-list .row[data-id="' + freshId + '"]');
          if (row) row.classList.add('fresh');
        }
        sel = -1;
      });
  }

  function notifyCritical(id) {
    say('Critical message arrived: number ' + id + '.');
    if ('Notification' in window && Notification.permission === 'granted') {
      try { new Notification('threatdesk: critical message', { body: 'Message ' + id + ' needs attention now.', tag: 'td-' + id }); } catch (e) { /* some browsers need a worker */ }
    }
    try {
      var C = window.AudioContext || window.webkitAudioContext;
      if (C) {
        var ctx = new C(), o = ctx.createOscillator(), g = ctx.createGain();
        o.frequency.value = 880; g.gain.value = 0.05;
        o.connect(g); g.connect(ctx.destination); o.start(); o.stop(ctx.currentTime + 0.25);
      }
    } catch (e) { /* no sound */ }
  }

  function queuePage() {
    var list = document.getElementById('queue-list');
    if (!list) return;
    if ('Notification' in window && Notification.permission === 'default') {
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'secondary';
      b.textContent = 'Tell me about critical messages';
      b.addEventListener('click', function () {
        Notification.requestPermission().then(function () { b.remove(); });
      });
      var bar = document.querySelector('.bar');
      if (bar) bar.appendChild(b);
    }
    if (list.getAttribute('data-live') === '1' && 'EventSource' in window) {
      var es = new EventSource('/events');
      document.body.setAttribute('data-live', 'connecting');
      es.addEventListener('open', function () { document.body.setAttribute('data-live', 'open'); });
      es.addEventListener('message', function (e) {
        var ev = {};
        try { ev = JSON.parse(e.data); } catch (x) { return; }
        reloadQueue(ev.id).then(function () {
          if (ev.severity === 'critical') notifyCritical(ev.id);
          else say('New message arrived.');
        });
      });
      es.addEventListener('reload', function () { reloadQueue(); });
    }
    setInterval(refreshTimes, 60000);
    document.addEventListener('keydown', function (e) {
      if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === 'j') { select(sel + 1); e.preventDefault(); }
      else if (e.key === 'k') { select(sel - 1); e.preventDefault(); }
    });
  }

  /* ---- one message ---- */
  function messagePage() {
    document.addEventListener('keydown', function (e) {
      if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      var f;
      if (e.key === 'r' && (f = document.getElementById('f-review'))) { e.preventDefault(); f.requestSubmit(); }
      else if (e.key === 'd' && (f = document.getElementById('dreason'))) { e.preventDefault(); f.focus(); }
      else if (e.key === 'e' && (f = document.getElementById('ereason'))) { e.preventDefault(); f.focus(); }
      else if (e.key === 'j' || e.key === 'k') { e.preventDefault(); location.href = '/queue'; }
    });
  }

  /* ---- evidence ---- */
  function upload(caseId, files, status) {
    var list = Array.prototype.slice.call(files);
    var n = 0;
    return list.reduce(function (p, f) {
      return p.then(function () {
        status && (status.textContent = 'Sending ' + f.name + '...');
        return fetch('/cases/' + caseId + '/evidence', {
          method: 'POST', credentials: 'same-origin', body: f,
          headers: { 'X-CSRF-Token': csrf, 'X-File-Name': encodeURIComponent(f.name || 'photo'),
                     'Content-Type': f.type || 'application/octet-stream', 'Accept': 'application/json' }
        }).then(function (res) { if (!res.ok) throw new Error('HTTP ' + res.status); n++; });
      });
    }, Promise.resolve()).then(function () { return n; });
  }

  function casePage() {
    var drop = document.getElementById('evidence-drop');
    if (!drop) return;
    var id = drop.getAttribute('data-case'), input = document.getElementById('evidence-file');
    var status = document.getElementById('evidence-status');
    function go(files) {
      upload(id, files, status).then(function (n) { status.textContent = n + ' file(s) added.'; location.reload(); },
        function (e) { status.textContent = 'Could not add the file: ' + e.message; });
    }
    input.addEventListener('change', function () { if (input.files.length) go(input.files); });
    drop.addEventListener('dragover', function (e) { e.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', function () { drop.classList.remove('over'); });
    drop.addEventListener('drop', function (e) {
      e.preventDefault(); drop.classList.remove('over');
      if (e.dataTransfer.files.length) go(e.dataTransfer.files);
    });
  }

  /* ---- offline reports (IndexedDB: outbox = waiting, sent = done) ---- */
  function db() {
    return new Promise(function (ok, no) {
      var req = indexedDB.open('threatdesk', 1);
      req.onupgradeneeded = function () {
        req.result.createObjectStore('outbox', { keyPath: 'key', autoIncrement: true });
        req.result.createObjectStore('sent', { keyPath: 'key', autoIncrement: true });
      };
      req.onsuccess = function () { ok(req.result); };
      req.onerror = function () { no(req.error); };
    });
  }
  function tx(store, mode, fn) {
    return db().then(function (d) {
      return new Promise(function (ok, no) {
        var t = d.transaction(store, mode), s = t.objectStore(store), out = fn(s);
        t.oncomplete = function () { ok(out && out.result !== undefined ? out.result : undefined); };
        t.onerror = function () { no(t.error); };
      });
    });
  }
  function all(store) { return tx(store, 'readonly', function (s) { return s.getAll(); }); }

  var flushing = false;
  function flush() {
    if (flushing || !navigator.onLine) return Promise.resolve();
    flushing = true;
    var status = document.getElementById('report-status');
    return all('outbox').then(function (items) {
      return items.reduce(function (p, it) {
        return p.then(function () {
          var body = new URLSearchParams(it.fields);
          body.set('csrf', csrf);
          return fetch('/report', { method: 'POST', credentials: 'same-origin', body: body,
                                    headers: { 'Accept': 'application/json' } })
            .then(function (res) {
              if (res.status === 401 || res.status === 403) {
                throw new Error('Log in again to send the report kept on this phone.');
              }
              if (!res.ok) throw new Error('The desk refused the report (' + res.status + ').');
              return res.json();
            })
            .then(function (j) {
              return (it.photos && it.photos.length ? upload(j.case, it.photos, null).catch(function () { return 0; }) : Promise.resolve(0))
                .then(function () {
                  return tx('sent', 'readwrite', function (s) { return s.add({ case: j.case, title: j.title, at: Date.now() }); });
                })
                .then(function () { return tx('outbox', 'readwrite', function (s) { return s.delete(it.key); }); })
                .then(function () {
                  if (status) status.textContent = 'Report received. Your case number is ' + j.case + '.';
                  say('Report received: case ' + j.case + '.');
                });
            });
        });
      }, Promise.resolve());
    }).catch(function (e) {
      if (status) status.textContent = e instanceof TypeError ?
        'Saved on this phone. It will be sent when you are back online.' : e.message;
    }).then(function () { flushing = false; renderReports(); });
  }

  function reportPage() {
    var form = document.getElementById('report-form');
    if (!form || !('indexedDB' in window)) return;
    var gps = document.getElementById('rgps');
    if (gps && 'geolocation' in navigator) {
      gps.hidden = false;
      gps.addEventListener('click', function () {
        navigator.geolocation.getCurrentPosition(function (p) {
          document.getElementById('rlat').value = p.coords.latitude.toFixed(5);
          document.getElementById('rlon').value = p.coords.longitude.toFixed(5);
          gps.textContent = 'Position added';
        }, function () { gps.textContent = 'No position (permission refused or unavailable)'; });
      });
    }
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var fields = {};
      new FormData(form).forEach(function (v, k) { if (k !== 'csrf' && typeof v === 'string') fields[k] = v; });
      var photos = Array.prototype.slice.call(document.getElementById('rphoto').files || []);
      tx('outbox', 'readwrite', function (s) { return s.add({ fields: fields, photos: photos, at: Date.now() }); })
        .then(function () {
          form.reset();
          var status = document.getElementById('report-status');
          if (status) status.textContent = navigator.onLine ? 'Sending...' :
            'Saved on this phone. It will be sent when you are back online.';
          return flush();
        });
    });
    window.addEventListener('online', flush);
    flush();
  }

  function renderReports() {
    var ul = document.getElementById('my-reports');
    if (!ul || !('indexedDB' in window)) return;
    Promise.all([all('outbox'), all('sent')]).then(function (r) {
      ul.textContent = '';
      r[0].forEach(function (it) {
        var li = document.createElement('li');
        li.textContent = 'Waiting for a signal: ' + (it.fields.description || '').slice(0, 60);
        ul.appendChild(li);
      });
      r[1].slice().reverse().forEach(function (it) {
        var li = document.createElement('li');
        li.textContent = 'Case ' + it.case + ': ' + it.title + ' (sent ' + new Date(it.at).toLocaleString('en-GB') + ')';
        ul.appendChild(li);
      });
      if (!ul.children.length) { var li = document.createElement('li'); li.textContent = 'Nothing yet.'; ul.appendChild(li); }
    });
  }

  document.addEventListener('keydown', function (e) {
    if (!typing(e) && e.key === '?') { e.preventDefault(); help(); }
  });
  if (page === 'queue' && document.getElementById('queue-list')) queuePage();
  if (document.getElementById('f-escalate')) messagePage();
  casePage();
  if (page === 'report' || page === 'reports') {
    if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js').catch(function () {});
    reportPage();
    if (page === 'reports') { window.addEventListener('online', flush); flush(); }
  }
})();
