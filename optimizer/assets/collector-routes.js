/* collector-routes map helpers (MIT). Needs Leaflet. Data comes from the page as JSON whose text
 * fields were HTML-escaped by the generator; popups are built from that escaped HTML only. */
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

  window.CR = {
    addStops: addStops,
    addPlaces: addPlaces,
    addPoints: addPoints,
    bindList: bindList,
    bindSheet: bindSheet,
    byCase: byCase,
  };
})();
