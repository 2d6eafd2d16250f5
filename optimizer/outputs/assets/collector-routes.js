/* collector-routes map helpers (MIT). Needs Leaflet. Data comes from the page's JSON block
 * (<script type="application/json" id="cr-data">), whose text fields were HTML-escaped by the
 * generator; popups and layer names are built from that escaped HTML only. */
(function () {
  "use strict";

  var byCase = {}; /* case id -> marker, for links and tests */

  function numberIcon(label, color, size) {
    var html = '<span class="cr-pin" style="background:' + color + ';width:' + size + "px;height:" +
      size + "px;line-height:" + size + 'px">' + label + "</span>";
    return L.divIcon({
      className: "cr-icon",
      html: html,
      iconSize: [size, size],
      iconAnchor: [size / 2, size / 2],
      popupAnchor: [0, -size / 2],
    });
  }

  /* Numbered stop markers into `group`; returns {stopNumber: marker}. */
  function addStops(group, stops, opts) {
    var markers = {};
    var size = opts.size || 26;
    stops.forEach(function (s) {
      var m = L.marker([s.lat, s.lon], {
        icon: numberIcon(String(s.n), opts.color, size),
        title: "Stop " + s.n,
        riseOnHover: true,
        zIndexOffset: 1000 - s.n,
      });
      m.bindPopup(s.popup, { maxWidth: 300, autoPanPaddingTopLeft: [10, 60] });
      m.crStop = s.n;
      m.addTo(group);
      markers[s.n] = m;
      if (s.id) byCase[s.id] = m;
    });
    return markers;
  }

  /* Start / end places: small square markers labelled S, E or S/E. */
  function addPlaces(group, places, color) {
    places.forEach(function (p) {
      var html = '<span class="cr-place" style="border-color:' + color + '">' + p.label + "</span>";
      L.marker([p.lat, p.lon], {
        icon: L.divIcon({ className: "cr-icon", html: html, iconSize: [28, 20], iconAnchor: [14, 10] }),
        title: p.title,
        zIndexOffset: -1000,
      }).bindPopup(p.popup).addTo(group);
    });
  }

  /* Unvisited cases as small circles. */
  function addPoints(group, points, opts) {
    points.forEach(function (p) {
      var m = L.circleMarker([p.lat, p.lon], {
        radius: opts.radius || 6,
        color: opts.color,
        weight: 2,
        fillColor: opts.fill || opts.color,
        fillOpacity: 0.6,
        className: "cr-unvisited",
      }).bindPopup(p.popup, { maxWidth: 300 }).addTo(group);
      if (p.id) byCase[p.id] = m;
    });
  }

  /* Stop list <-> map: tapping an entry centres the map on the stop and opens its popup; opening
   * a popup highlights the entry. Links inside an entry (navigation) keep their own behaviour. */
  function bindList(map, markers, list) {
    function select(n, scroll) {
      var items = list.querySelectorAll("[data-stop]");
      for (var i = 0; i < items.length; i++) {
        items[i].classList.toggle("cr-active", items[i].getAttribute("data-stop") === String(n));
        if (scroll && items[i].getAttribute("data-stop") === String(n)) {
          items[i].scrollIntoView({ block: "nearest" });
        }
      }
    }
    list.addEventListener("click", function (ev) {
      if (ev.target.closest("a")) return;
      var item = ev.target.closest("[data-stop]");
      if (!item) return;
      var m = markers[item.getAttribute("data-stop")];
      if (!m) return;
      map.setView(m.getLatLng(), Math.max(map.getZoom(), 16), { animate: false });
      m.openPopup();
      select(m.crStop, false);
    });
    list.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") {
        var item = ev.target.closest("[data-stop]");
        if (item && !ev.target.closest("a")) {
          ev.preventDefault();
          item.click();
        }
      }
    });
    Object.keys(markers).forEach(function (n) {
      markers[n].on("popupopen", function () { select(n, true); });
    });
  }

  /* The bottom sheet's toggle: list shown / collapsed; the map takes the room left. */
  function bindSheet(map, button, sheet) {
    button.addEventListener("click", function () {
      var collapsed = sheet.classList.toggle("cr-collapsed");
      button.setAttribute("aria-expanded", collapsed ? "false" : "true");
      map.invalidateSize();
    });
  }

  /* The page's data: the JSON block with the id `id` (default "cr-data"). */
  function data(id) {
    return JSON.parse(document.getElementById(id || "cr-data").textContent);
  }

  /* A layer control with `layers` ([[layer, nameHtml], ...]) as overlays, in this order. Added one
   * by one, so two layers with the same name are still two entries. */
  function layerControl(map, layers, opts) {
    var control = L.control.layers(null, null, opts);
    layers.forEach(function (l) { control.addOverlay(l[0], l[1]); });
    return control.addTo(map);
  }

  /* The dispatcher overview: a layer per route (groups[i] draws data.routes[i]) and one for the
   * unvisited cases, each listed in the layer control under its name from the data. */
  function overviewPage(map, groups, unvisitedGroup, d) {
    var layers = [];
    d.routes.forEach(function (r, i) {
      addPlaces(groups[i], r.places, r.color);
      addStops(groups[i], r.stops, { color: r.color, size: 24 });
      layers.push([groups[i], r.label]);
    });
    addPoints(unvisitedGroup, d.unvisited.points,
      { color: d.unvisited.color, fill: "#bbbbbb", radius: 5 });
    layers.push([unvisitedGroup, d.unvisited.label]);
    return layerControl(map, layers, { position: "topright", collapsed: true, autoZIndex: true });
  }

  /* A collector's page: the route's stops and places, the stop list and the sheet's toggle. */
  function collectorPage(map, group, d) {
    addPlaces(group, d.places, d.color);
    var markers = addStops(group, d.stops, { color: d.color, size: 34 });
    bindList(map, markers, document.getElementById("cr-stops"));
    bindSheet(map, document.getElementById("cr-toggle"), document.getElementById("cr-sheet"));
    return markers;
  }

  window.CR = {
    addStops: addStops,
    addPlaces: addPlaces,
    addPoints: addPoints,
    bindList: bindList,
    bindSheet: bindSheet,
    byCase: byCase,
    data: data,
    layerControl: layerControl,
    overviewPage: overviewPage,
    collectorPage: collectorPage,
  };
})();
