/* collector-routes console: the map of a plan, the progress of a planning job, filters.
   Bundled, no build step. Input text only ever enters the page through textContent. */
(function () {
  "use strict";
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
                "#e377c2", "#7f7f7f", "#bcbd22", "#393b79", "#637939", "#8c6d31", "#843c39",
                "#7b4173"];

  function text(tag, value) {
    var el = document.createElement(tag);
    el.textContent = value;
    return el;
  }

  function planMap() {
    var block = document.getElementById("cr-plan-data");
    var box = document.getElementById("cr-map");
    if (!block || !box || !window.L) { return; }
    var data = JSON.parse(block.textContent);
    var map = L.map(box, { preferCanvas: false });
    L.tileLayer(data.tiles.url, { attribution: data.tiles.attribution,
      subdomains: data.tiles.subdomains, maxZoom: data.tiles.max_zoom }).addTo(map);
    var overlays = {};
    var bounds = [];
    data.routes.forEach(function (r, i) {
      if (!r.stops.length) { return; }
      var color = COLORS[i % COLORS.length];
      var group = L.layerGroup();
      L.polyline(r.path, { color: color, weight: 4, opacity: 0.8,
        className: "cr-route" }).addTo(group);
      r.stops.forEach(function (s) {
        var bad = s.violations.length > 0;
        var m = L.circleMarker([s.lat, s.lon], { radius: 6, color: bad ? "#b00020" : color,
          weight: bad ? 3 : 1, fillOpacity: 0.9, className: bad ? "cr-stop cr-bad" : "cr-stop" });
        var tip = document.createElement("div");
        tip.appendChild(text("b", r.collector_id + " #" + s.stop + " " + s.start));
        tip.appendChild(text("div", s.case_id + " " + s.customer));
        s.violations.forEach(function (v) { tip.appendChild(text("div", v)); });
        m.bindTooltip(tip);
        m.addTo(group);
        bounds.push([s.lat, s.lon]);
      });
      group.addTo(map);
      overlays[r.collector_id + " (" + r.stops.length + ")"] = group;
    });
    if (data.unassigned.length) {
      var left = L.layerGroup();
      data.unassigned.forEach(function (u) {
        var m = L.circleMarker([u.lat, u.lon], { radius: 4, color: "#555", weight: 1,
          fillOpacity: 0.5, className: "cr-unvisited" });
        m.bindTooltip(text("div", u.case_id + ": " + u.reason_code));
        m.addTo(left);
      });
      left.addTo(map);
      overlays["not visited (" + data.unassigned.length + ")"] = left;
    }
    L.control.layers(null, overlays, { collapsed: false }).addTo(map);
    if (bounds.length) { map.fitBounds(bounds, { padding: [20, 20] }); }
    else { map.setView([30.66, 104.06], 12); }
  }

  function reasonFilter() {
    var select = document.getElementById("reason");
    var rows = document.querySelectorAll("#cr-unvisited tbody tr");
    if (!select) { return; }
    select.addEventListener("change", function () {
      var v = select.value;
      rows.forEach(function (tr) {
        tr.hidden = v !== "" && tr.getAttribute("data-reason") !== v;
      });
    });
  }

  function jobProgress() {
    var box = document.getElementById("cr-job");
    if (!box) { return; }
    var url = box.getAttribute("data-status");
    var bar = document.getElementById("cr-progress");
    var list = document.getElementById("cr-stages");
    var state = document.getElementById("cr-job-state");
    function poll() {
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); })
        .then(function (s) {
          list.textContent = "";
          s.stages.forEach(function (st) {
            var line = st.name + (st.total ? " " + st.done + "/" + st.total : "") +
              (st.state === "done" ? " \u2713" : " \u2026");
            list.appendChild(text("li", line));
          });
          var done = s.stages.filter(function (st) { return st.state === "done"; }).length;
          bar.value = s.state === "done" ? 100 : Math.min(95, 100 * done / (done + 3));
          state.textContent = s.state + " (" + s.elapsed_s + " s)";
          if (s.state === "done" && s.url) { window.location.assign(s.url); }
          else if (s.state === "failed") { window.location.reload(); }
          else { window.setTimeout(poll, 600); }
        })
        .catch(function () { window.setTimeout(poll, 1500); });
    }
    if (state.textContent === "running") { poll(); }
  }

  function pinMap() {
    var block = document.getElementById("cr-pin-data");
    var box = document.getElementById("cr-pin-map");
    if (!block || !box || !window.L) { return; }
    var data = JSON.parse(block.textContent);
    var map = L.map(box).setView(data.center, 13);
    L.tileLayer(data.tiles.url, { attribution: data.tiles.attribution,
      subdomains: data.tiles.subdomains, maxZoom: data.tiles.max_zoom }).addTo(map);
    var marker = null;
    var form = null;
    function place(latlng) {
      if (!form) { return; }
      var lat = latlng.lat.toFixed(6), lon = latlng.lng.toFixed(6);
      form.querySelector("input[name=lat]").value = lat;
      form.querySelector("input[name=lon]").value = lon;
      form.querySelector(".cr-pin-at").textContent = " pin " + lat + ", " + lon + " ";
    }
    document.querySelectorAll("button.cr-pick").forEach(function (button) {
      button.addEventListener("click", function () {
        form = button.closest("form");
        if (!marker) {
          marker = L.marker(map.getCenter(), { draggable: true, keyboard: true,
            title: "pin" }).addTo(map);
          marker.on("dragend", function () { place(marker.getLatLng()); });
        }
        marker.setLatLng(map.getCenter());
        marker.bindTooltip(text("span", button.getAttribute("data-case")),
          { permanent: true, direction: "top" });
        place(marker.getLatLng());
        box.scrollIntoView({ block: "center" });
      });
    });
    map.on("click", function (e) {
      if (marker && form) { marker.setLatLng(e.latlng); place(e.latlng); }
    });
  }

  planMap();
  pinMap();
  reasonFilter();
  jobProgress();
}());
