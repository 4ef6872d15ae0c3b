// SPDX-License-Identifier: MIT
// What the theme leaves to the page for keyboard and screen-reader users (docs/site.md §3; axe-core
// checks every page in tests/test_site.py):
// * the search dialog gets a name ("Search this site");
// * a code cell or an output that scrolls sideways can be reached with Tab (tabindex 0) and is named,
//   so a keyboard user can scroll it with the arrow keys; one that does not scroll stays out of the
//   Tab order.
(function () {
  "use strict";
  function scrolls(el) {
    return el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1;
  }
  function reachable() {
    var dialogs = document.querySelectorAll('[role="dialog"]:not([aria-label]):not([aria-labelledby])');
    for (var i = 0; i < dialogs.length; i++) dialogs[i].setAttribute("aria-label", "Search this site");
    var boxes = document.querySelectorAll(".highlight-ipynb, .highlight pre, .jp-OutputArea-output pre, " +
                                          "div.vmaplab-plotly, .md-typeset__scrollwrap");
    for (var k = 0; k < boxes.length; k++) {
      var el = boxes[k];
      if (scrolls(el) && !el.hasAttribute("tabindex")) {
        el.setAttribute("tabindex", "0");
        if (!el.hasAttribute("role")) el.setAttribute("role", "region");
        if (!el.hasAttribute("aria-label")) {
          el.setAttribute("aria-label", el.closest(".jp-OutputArea") ? "output, scrolls sideways"
                                                                    : "code, scrolls sideways");
        }
      }
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", reachable);
  else reachable();
  window.addEventListener("load", reachable);
})();
