/* collector-routes: the outcome form of a collector's page, with its offline queue (MIT).
 *
 * The server puts the form's configuration in <script type="application/json"
 * id="cr-outcome-config"> (the API path, the route's stops and members, the outcome codes).
 * Each stop of the list gets a "Record" button; the form sends one outcome per visit.
 *
 * Offline first: an outcome is written to the outbox (localStorage, one per page) BEFORE it is
 * sent, with a key made on the phone. It leaves the outbox only when the server answered 200/201
 * (recorded, or recorded before under that key), so a reload, a lost answer or a dead network
 * never loses it, and a retry never records it twice (the server is idempotent on the key).
 * The outbox is sent when the page opens, when the network comes back, every 20 s while it is
 * not empty, and on "Send now". An outcome the server refuses (4xx) stays, shown with the
 * server's message, until the collector discards it.
 *
 * Everything typed or received is shown with textContent: no input text is ever parsed as HTML.
 */
(function () {
  "use strict";

  var cfgEl = document.getElementById("cr-outcome-config");
  if (!cfgEl) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var OUTBOX = "cr-outbox:" + cfg.api;
  var RETRY_MS = 20000;
  var codes = {};
  cfg.codes.forEach(function (c) { codes[c.code] = c; });
  var recorded = {}; /* case id -> [outcome as the server answered] */
  var sending = false;
  var ui = {};

  /* ------------------------------------------------------------------ outbox */

  function loadOutbox() {
    try {
      var q = JSON.parse(localStorage.getItem(OUTBOX) || "[]");
      return Array.isArray(q) ? q : [];
    } catch (e) {
      return [];
    }
  }

  function saveOutbox(q) {
    localStorage.setItem(OUTBOX, JSON.stringify(q));
  }

  function newKey() {
    /* crypto.randomUUID needs a secure context; getRandomValues does not (a LAN http:// page) */
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    var hex = "";
    for (var i = 0; i < b.length; i++) hex += (b[i] < 16 ? "0" : "") + b[i].toString(16);
    return "ph-" + hex;
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  /* The phone's local time with its offset, e.g. 2026-11-30T10:05:00+08:00. */
  function localIso(d) {
    var off = -d.getTimezoneOffset();
    var a = Math.abs(off);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) +
      (off >= 0 ? "+" : "-") + pad(Math.floor(a / 60)) + ":" + pad(a % 60);
  }

  function enqueue(body) {
    var q = loadOutbox();
    q.push({ key: body.key, body: body, state: "pending", error: "" });
    saveOutbox(q); /* first kept on the phone, then sent */
    render();
    flush();
  }

  function errorText(status, payload) {
    if (payload && payload.message) return payload.message;
    return "refused by the server (HTTP " + status + ")";
  }

  function settle(key, change) {
    var q = loadOutbox();
    var out = [];
    q.forEach(function (item) {
      if (item.key !== key) out.push(item);
      else if (change) out.push(change(item));
    });
    saveOutbox(out);
  }

  function flush() {
    if (sending) return;
    var pending = loadOutbox().filter(function (i) { return i.state === "pending"; });
    if (!pending.length) { render(); return; }
    sending = true;
    var k = 0;
    function next() {
      if (k >= pending.length) { sending = false; render(); return; }
      var item = pending[k++];
      fetch(cfg.api, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(item.body),
        credentials: "omit",
        cache: "no-store",
      }).then(function (resp) {
        return resp.json().catch(function () { return null; }).then(function (payload) {
          if (resp.status === 200 || resp.status === 201) {
            settle(item.key, null);
            if (payload && payload.case_id) remember(payload, item.body);
            next();
          } else if (resp.status >= 400 && resp.status < 500 && resp.status !== 408 &&
                     resp.status !== 429) {
            settle(item.key, function (it) {
              it.state = "rejected";
              it.error = errorText(resp.status, payload);
              return it;
            });
            next();
          } else {
            sending = false; /* the server is busy or down: try again later */
            render();
          }
        });
      }).catch(function () {
        sending = false; /* no network: kept, sent when it returns */
        render();
      });
    }
    next();
  }

  function remember(ans, body) {
    var list = recorded[ans.case_id] || (recorded[ans.case_id] = []);
    if (list.some(function (o) { return o.key === ans.key; })) return;
    list.push({ key: ans.key, outcome: ans.outcome, label: ans.label,
      event_time: ans.event_time, amount: body ? body.amount : ans.amount,
      promise_date: body ? body.promise_date : ans.promise_date,
      note: body ? body.note : ans.note });
  }

  function loadRecorded() {
    fetch(cfg.api, { credentials: "omit", cache: "no-store" }).then(function (resp) {
      return resp.ok ? resp.json() : null;
    }).then(function (data) {
      if (!data) return;
      data.outcomes.forEach(function (o) { remember(o, null); });
      render();
    }).catch(function () { /* offline: the outbox still shows */ });
  }

  /* ------------------------------------------------------------------ rendering */

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function describe(o) {
    var c = codes[o.outcome];
    var t = (c ? c.label + " " + c.label_en : o.outcome);
    if (o.amount) t += " · " + o.amount;
    if (o.promise_date) t += " · " + o.promise_date;
    if (o.note) t += " · " + (o.note.length > 60 ? o.note.slice(0, 60) + "…" : o.note);
    return t;
  }

  function render() {
    var q = loadOutbox();
    var unsent = q.filter(function (i) { return i.state === "pending"; }).length;
    var rejected = q.filter(function (i) { return i.state === "rejected"; }).length;
    ui.badge.textContent = unsent ? unsent + " unsent" : (rejected ? "" : "all sent");
    ui.badge.className = "cr-oc-badge" + (unsent ? " cr-oc-unsent" : "");
    ui.badge.setAttribute("data-unsent", String(unsent));
    ui.send.hidden = !unsent;
    Object.keys(ui.stops).forEach(function (caseId) {
      var box = ui.stops[caseId];
      box.textContent = "";
      (recorded[caseId] || []).forEach(function (o) {
        var line = el("div", "cr-oc-sent", "Recorded: " + describe(o));
        line.setAttribute("data-key", o.key);
        box.appendChild(line);
      });
      q.filter(function (i) { return i.body.case_id === caseId; }).forEach(function (i) {
        var line = el("div", i.state === "pending" ? "cr-oc-pending" : "cr-oc-rejected");
        line.setAttribute("data-key", i.key);
        line.appendChild(el("span", null, (i.state === "pending" ? "Unsent: " :
          "Not recorded: ") + describe(i.body)));
        if (i.state === "rejected") {
          line.appendChild(el("div", "cr-oc-error", i.error));
          var drop = el("button", "cr-oc-drop", "Discard");
          drop.type = "button";
          drop.addEventListener("click", function (ev) {
            ev.stopPropagation();
            settle(i.key, null);
            render();
          });
          line.appendChild(drop);
        }
        box.appendChild(line);
      });
    });
  }

  /* ------------------------------------------------------------------ the form */

  var FIELDS = {
    amount: ["Amount", "number"],
    promise_date: ["Promise date", "date"],
    instalment_count: ["Instalments", "number"],
    instalment_first_date: ["First instalment", "date"],
    instalment_amount: ["Amount each", "number"],
    new_address: ["New address", "text"],
    note: ["Note", "textarea"],
  };

  function buildForm() {
    var f = el("div", "cr-oc-form");
    f.id = "cr-oc-form";
    f.hidden = true;
    f.setAttribute("role", "dialog");
    f.setAttribute("aria-modal", "true");
    var title = el("div", "cr-oc-title");
    f.appendChild(title);
    var grid = el("div", "cr-oc-codes");
    cfg.codes.forEach(function (c) {
      var b = el("button", "cr-oc-code");
      b.type = "button";
      b.setAttribute("data-code", c.code);
      b.appendChild(el("span", "cr-oc-zh", c.label));
      b.appendChild(el("span", "cr-oc-en", c.label_en));
      b.addEventListener("click", function () { choose(c.code); });
      grid.appendChild(b);
    });
    f.appendChild(grid);
    var inputs = {};
    var fields = el("div", "cr-oc-fields");
    Object.keys(FIELDS).forEach(function (name) {
      var spec = FIELDS[name];
      var wrap = el("label", "cr-oc-field");
      wrap.setAttribute("data-field", name);
      wrap.appendChild(el("span", null, spec[0]));
      var input = spec[1] === "textarea" ? el("textarea") : el("input");
      if (spec[1] !== "textarea") input.type = spec[1];
      if (spec[1] === "number") { input.inputMode = "decimal"; input.step = "any"; input.min = "0"; }
      if (name === "note") input.maxLength = cfg.max_note;
      input.name = name;
      wrap.appendChild(input);
      inputs[name] = input;
      fields.appendChild(wrap);
    });
    var crew = el("div", "cr-oc-crew");
    var crewBoxes = {};
    if (cfg.members.length > 1) {
      crew.appendChild(el("span", null, "Present"));
      cfg.members.forEach(function (m) {
        var l = el("label", "cr-oc-member");
        var cb = el("input");
        cb.type = "checkbox";
        cb.value = m;
        cb.checked = true;
        if (m === cfg.collector) cb.disabled = true; /* the sender is always present */
        l.appendChild(cb);
        l.appendChild(el("span", null, m));
        crew.appendChild(l);
        crewBoxes[m] = cb;
      });
    }
    fields.appendChild(crew);
    f.appendChild(fields);
    var msg = el("div", "cr-oc-msg");
    msg.setAttribute("role", "alert");
    f.appendChild(msg);
    var actions = el("div", "cr-oc-actions");
    var cancel = el("button", "cr-oc-cancel", "Cancel");
    cancel.type = "button";
    var save = el("button", "cr-oc-save", "Save");
    save.type = "button";
    actions.appendChild(cancel);
    actions.appendChild(save);
    f.appendChild(actions);
    document.body.appendChild(f);

    var state = { caseId: null, code: null, pos: null };

    function choose(code) {
      state.code = code;
      var c = codes[code];
      Array.prototype.forEach.call(grid.children, function (b) {
        b.setAttribute("aria-pressed", b.getAttribute("data-code") === code ? "true" : "false");
      });
      Object.keys(inputs).forEach(function (name) {
        var wanted = c.required.indexOf(name) >= 0 || c.optional.indexOf(name) >= 0;
        inputs[name].parentNode.hidden = !wanted;
        inputs[name].required = c.required.indexOf(name) >= 0;
      });
      fields.hidden = false;
      save.disabled = false;
      msg.textContent = "";
    }

    function open(caseId, stopNo) {
      state.caseId = caseId;
      state.code = null;
      state.pos = null;
      title.textContent = "Stop " + stopNo + " · " + caseId;
      Object.keys(inputs).forEach(function (n) { inputs[n].value = ""; });
      Array.prototype.forEach.call(grid.children, function (b) { b.setAttribute("aria-pressed", "false"); });
      fields.hidden = true;
      save.disabled = true;
      msg.textContent = "";
      f.hidden = false;
      if (navigator.geolocation && window.isSecureContext) {
        navigator.geolocation.getCurrentPosition(function (p) {
          state.pos = p.coords;
        }, function () {}, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
      }
    }

    cancel.addEventListener("click", function () { f.hidden = true; });
    save.addEventListener("click", function () {
      var c = codes[state.code];
      if (!c) return;
      var body = { key: newKey(), case_id: state.caseId, outcome: c.code,
        event_time: localIso(new Date()) };
      var missing = [];
      c.required.concat(c.optional).forEach(function (name) {
        var v = inputs[name].value.trim();
        if (!v) {
          if (c.required.indexOf(name) >= 0) missing.push(FIELDS[name][0]);
          return;
        }
        body[name] = FIELDS[name][1] === "number" ? Number(v) : v;
      });
      if (missing.length) {
        msg.textContent = "Please fill in: " + missing.join(", ");
        return;
      }
      if (cfg.members.length > 1) {
        body.collectors = cfg.members.filter(function (m) { return crewBoxes[m].checked; });
      }
      if (state.pos) {
        body.device_lat = state.pos.latitude;
        body.device_lon = state.pos.longitude;
        body.device_accuracy_m = state.pos.accuracy;
      }
      f.hidden = true;
      enqueue(body);
    });
    return open;
  }

  function setup() {
    var head = document.querySelector(".cr-head");
    ui.badge = el("span", "cr-oc-badge");
    ui.badge.id = "cr-oc-badge";
    ui.badge.setAttribute("aria-live", "polite");
    ui.send = el("button", "cr-oc-send", "Send now");
    ui.send.type = "button";
    ui.send.id = "cr-oc-send";
    ui.send.addEventListener("click", flush);
    (head || document.body).appendChild(ui.badge);
    (head || document.body).appendChild(ui.send);
    var open = buildForm();
    ui.stops = {};
    var allowed = {};
    cfg.stops.forEach(function (id) { allowed[id] = true; });
    document.querySelectorAll("li.cr-stop[data-case-id]").forEach(function (li) {
      var caseId = li.getAttribute("data-case-id");
      if (!allowed[caseId]) return;
      var box = el("div", "cr-oc-status");
      var b = el("button", "cr-oc-open", "Record outcome");
      b.type = "button";
      b.setAttribute("data-case-id", caseId);
      b.addEventListener("click", function (ev) {
        ev.stopPropagation(); /* not the list's "show on the map" */
        open(caseId, li.getAttribute("data-stop"));
      });
      b.addEventListener("keydown", function (ev) { ev.stopPropagation(); });
      var body = li.querySelector(".cr-body") || li;
      body.appendChild(b);
      body.appendChild(box);
      ui.stops[caseId] = box;
    });
    render();
    loadRecorded();
    flush();
    window.addEventListener("online", flush);
    if ("serviceWorker" in navigator && window.isSecureContext) {
      /* the page opens again without a network (https:// or localhost only) */
      navigator.serviceWorker.register("cr-sw.js").catch(function () {});
    }
    setInterval(function () { if (navigator.onLine !== false) flush(); }, RETRY_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();

  window.CROutcomes = { flush: flush, outbox: loadOutbox };
})();
