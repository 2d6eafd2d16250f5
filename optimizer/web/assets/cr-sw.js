/* collector-routes: the collector page's service worker (MIT). It keeps the page and its assets
 * so the page opens without a network (a reload in a basement): network first, the last copy
 * when there is no network. The outcome API is never cached or answered from here: outcomes
 * wait in the page's outbox (cr-outcomes.js). Browsers run it only on https:// or localhost. */
"use strict";
var CACHE = "cr-page-v1";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (e) { e.waitUntil(self.clients.claim()); });

self.addEventListener("fetch", function (e) {
  var req = e.request;
  var url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin ||
      url.pathname.indexOf("/api/") >= 0) {
    return; /* the browser's own handling: outcomes, tiles */
  }
  e.respondWith(fetch(req).then(function (resp) {
    if (resp.ok) {
      var copy = resp.clone();
      caches.open(CACHE).then(function (c) { return c.put(req, copy); });
    }
    return resp;
  }).catch(function () {
    return caches.match(req).then(function (hit) { return hit || Response.error(); });
  }));
});
