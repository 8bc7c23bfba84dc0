/* threatdesk service worker: keeps the incident report form usable with no
 * signal.  It caches ONLY /report, /reports and /static/* - never a page
 * with messages or cases on it, so nothing sensitive is left on a phone.
 * Pages: network first, the cached copy when offline.  Static files are
 * versioned (?v=hash): cache first. */
'use strict';
var CACHE = 'td-report-v1';
var PAGES = ['/report', '/reports'];

self.addEventListener('install', function (e) {
  e.waitUntil(caches.open(CACHE).then(function (c) {
    return Promise.all(PAGES.map(function (p) {
      return fetch(p, { credentials: 'same-origin' }).then(function (res) {
        if (!res.ok || res.redirected) return;
        return res.clone().text().then(function (html) {
          var assets = html.match(/\/static\/[a-z]+\.(css|js)\?v=[0-9a-f]*/g) || [];
          return c.put(p, res).then(function () {
            return Promise.all(assets.map(function (a) {
              return c.add(a).catch(function () {});
            }));
          });
        });
      }).catch(function () {});
    }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener('activate', function (e) {
  e.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k !== CACHE; }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener('fetch', function (e) {
  var req = e.request, url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== location.origin) return;
  if (PAGES.indexOf(url.pathname) >= 0) {
    e.respondWith(fetch(req).then(function (res) {
      if (res.ok && !res.redirected) {
        var copy = res.clone();
        caches.open(CACHE).then(function (c) { c.put(url.pathname, copy); });
      }
      return res;
    }).catch(function () {
      return caches.match(url.pathname).then(function (r) { return r || Response.error(); });
    }));
  } else if (url.pathname.indexOf('/static/') === 0) {
    e.respondWith(caches.match(req).then(function (r) {
      return r || fetch(req).then(function (res) {
        if (res.ok) { var copy = res.clone(); caches.open(CACHE).then(function (c) { c.put(req, copy); }); }
        return res;
      });
    }));
  }
});
