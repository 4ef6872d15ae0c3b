// SPDX-License-Identifier: MIT
// Draws every stored plotly figure of a notebook page with the plotly.js bundled beside this file, and
// gives each its text alternative: site/build.py wrote the figure's JSON into a <script type=
// "application/json"> and its description into the <figcaption> and the div's data-label; here the
// drawn chart's main SVG becomes role="img" named by that description, the SVG layers over it are
// hidden from screen readers (they repeat the same chart), and the figure's <figure> element keeps
// its visible caption.
(function () {
  "use strict";
  function name(div) {
    var label = div.getAttribute("data-label") || "";
    var svgs = div.querySelectorAll("svg.main-svg");
    for (var i = 0; i < svgs.length; i++) {
      if (i === 0) {
        svgs[i].setAttribute("role", "img");
        svgs[i].setAttribute("aria-label", label);
      } else {
        svgs[i].setAttribute("aria-hidden", "true");
      }
    }
    div.setAttribute("data-drawn", "true");
  }
  function draw(div) {
    var spec = document.getElementById(div.getAttribute("data-spec"));
    if (!spec) return;
    if (typeof window.Plotly === "undefined") {
      div.textContent = "(this figure needs JavaScript and the site's assets/plotly.min.js; its description is below)";
      return;
    }
    var fig = JSON.parse(spec.textContent);
    var config = Object.assign({responsive: true, displaylogo: false}, fig.config || {});
    window.Plotly.newPlot(div, fig.data || [], fig.layout || {}, config).then(function () { name(div); });
  }
  function drawAll() {
    var divs = document.querySelectorAll("div.vmaplab-plotly");
    for (var i = 0; i < divs.length; i++) draw(divs[i]);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();
