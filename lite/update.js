// SPDX-License-Identifier: MIT
// The browser site's update prompt (docs/lite.md §3.1). scripts/build_lite.py copies this file to the
// site's root as vmaplab-update.js, with VMAPLAB_SITE below filled in, and loads it in every app page.
//
// JupyterLite keeps the notebooks a learner saved in IndexedDB, in a database named after the site's
// contentsStorageName; our build names it after the course's content ("vmaplab VERSION HASH"), so a
// changed course opens in a fresh database and shows the new notebooks. This script finds the learner's
// databases of earlier versions of the course that hold saved files, says the course changed, and on
// request copies those files into this version's database: beside the new notebooks, under their own
// names where the course has no file of that path, else as "NAME (my copy of DATE).ipynb". The earlier
// databases are only read, never changed or deleted: nothing a learner saved is lost.
//
// Which databases are earlier: localStorage keeps the order in which this browser first saw each
// version ("vmaplab-sites"); a database of the course not in that list predates the prompt, and is
// earlier. A site opened after a later one (a term's site kept at its own path) offers nothing.
// "Not now" hides the prompt in this tab; "Don't ask again" for good; ?vmaplab-earlier in a page's
// address shows it again, whatever was answered.
//
// The format read and written is JupyterLite's (0.8): one object store "files" per database, keyed by
// the file's path, each value the file's contents model (name, path, type, format, content, ...);
// directories are entries of type "directory". The script opens a database only if it exists (an open
// that would create it is aborted) and closes it at once, so that JupyterLite's own upgrades never wait.
(function () {
  "use strict";
  var VMAPLAB_SITE = null;   // {storage, version, course: [paths]}: filled in by scripts/build_lite.py
  var PREFIX = "vmaplab ";
  var SEEN = "vmaplab-sites";
  var COPIED = "vmaplab-copied:";       // + an earlier database's name: its files were copied here
  var DISMISSED = "vmaplab-dismissed:"; // + an earlier database's name: the learner said "don't ask again"
  var LATER = "vmaplab-not-now";        // sessionStorage: the learner said "not now" in this tab
  // ?vmaplab-earlier in a page's address asks again, whatever was answered before
  var AGAIN = typeof location !== "undefined" && /[?&]vmaplab-earlier(=|&|$)/.test(location.search);

  function readJSON(store, key, fallback) {
    try { var v = JSON.parse(store.getItem(key)); return v === null ? fallback : v; } catch (e) { return fallback; }
  }

  // the order this browser first saw each version of the course in; returns the names before ours
  function earlierNames(own) {
    var seen = readJSON(localStorage, SEEN, []);
    if (!Array.isArray(seen)) seen = [];
    if (seen.indexOf(own) < 0) { seen.push(own); localStorage.setItem(SEEN, JSON.stringify(seen)); }
    return { before: seen.slice(0, seen.indexOf(own)), after: seen.slice(seen.indexOf(own) + 1) };
  }

  function listDatabases(known) {
    if (indexedDB.databases) {
      return indexedDB.databases().then(function (dbs) {
        return dbs.map(function (d) { return d.name; });
      }, function () { return known; });
    }
    return Promise.resolve(known);
  }

  // an existing database, or null: an open that would create one is aborted
  function openExisting(name) {
    return new Promise(function (resolve) {
      var created = false;
      var req = indexedDB.open(name);
      req.onupgradeneeded = function () { created = true; req.transaction.abort(); };
      req.onsuccess = function () {
        var db = req.result;
        db.onversionchange = function () { db.close(); };
        if (!db.objectStoreNames.contains("files")) { db.close(); resolve(null); } else resolve(db);
      };
      req.onerror = function (e) { if (created) e.preventDefault(); resolve(null); };
      req.onblocked = function () { resolve(null); };
    });
  }

  // every entry of a database's "files" store, as [{key, value}]
  function readFiles(name) {
    return openExisting(name).then(function (db) {
      if (!db) return [];
      return new Promise(function (resolve) {
        var out = [];
        var tx = db.transaction("files", "readonly");
        var req = tx.objectStore("files").openCursor();
        req.onsuccess = function () {
          var cursor = req.result;
          if (cursor) { out.push({ key: String(cursor.key), value: cursor.value }); cursor.continue(); }
        };
        tx.oncomplete = function () { db.close(); resolve(out); };
        tx.onerror = tx.onabort = function () { db.close(); resolve([]); };
      });
    });
  }

  function isFile(entry) {
    return entry.value && typeof entry.value === "object" && entry.value.type !== "directory";
  }

  function versionOf(name) { return name.slice(PREFIX.length).split(" ")[0] || "?"; }

  function copyName(path, when, tag, taken) {
    var slash = path.lastIndexOf("/");
    var dir = path.slice(0, slash + 1), base = path.slice(slash + 1);
    var dot = base.lastIndexOf(".");
    var stem = dot > 0 ? base.slice(0, dot) : base, ext = dot > 0 ? base.slice(dot) : "";
    // the first free one of: "NAME (my copy of DATE)", "NAME (my copy of DATE, TAG)", "... TAG 2)", ...
    var name = stem + " (my copy of " + when + ")" + ext;
    for (var n = 1; taken[dir + name]; n++) {
      name = stem + " (my copy of " + when + ", " + tag + (n > 1 ? " " + n : "") + ")" + ext;
    }
    return dir + name;
  }

  // where each earlier file goes in this version: its own path if the course has no file there and this
  // version has nothing saved there, else a "(my copy of DATE)" name beside it
  function plan(earlier, present) {
    var course = {}, taken = {};
    VMAPLAB_SITE.course.forEach(function (p) { course[p] = true; });
    present.forEach(function (e) { taken[e.key] = true; });
    var moves = [];
    earlier.forEach(function (group) {
      var tag = group.name.slice(PREFIX.length).split(" ").pop().slice(0, 6);
      group.entries.forEach(function (e) {
        if (!isFile(e)) {
          if (!taken[e.key] && !course[e.key]) { taken[e.key] = true; moves.push({ to: e.key, value: e.value }); }
          return;
        }
        var to = e.key;
        if (course[to] || taken[to]) {
          var when = String(e.value.last_modified || "").slice(0, 10) || "earlier";
          to = copyName(e.key, when, tag, taken);
        }
        taken[to] = true;
        var value = Object.assign({}, e.value, { path: to, name: to.slice(to.lastIndexOf("/") + 1) });
        moves.push({ to: to, from: e.key, value: value });
      });
    });
    return moves;
  }

  function writeFiles(name, moves) {
    return openExisting(name).then(function (db) {
      if (!db) throw new Error("this version's storage is not ready yet: reload the page and try again");
      return new Promise(function (resolve, reject) {
        var tx = db.transaction("files", "readwrite");
        var store = tx.objectStore("files");
        moves.forEach(function (m) { store.put(m.value, m.to); });
        tx.oncomplete = function () { db.close(); resolve(); };
        tx.onerror = tx.onabort = function () { db.close(); reject(tx.error || new Error("the copy failed")); };
      });
    });
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text) e.textContent = text;
    return e;
  }

  function show(earlier) {
    var files = [];
    earlier.forEach(function (g) {
      g.entries.filter(isFile).forEach(function (e) {
        var when = String(e.value.last_modified || "").slice(0, 10);
        files.push(e.key + (when ? " (saved " + when + ")" : ""));
      });
    });
    var others = earlier.map(function (g) { return versionOf(g.name); })
      .filter(function (v, i, all) { return v !== VMAPLAB_SITE.version && all.indexOf(v) === i; });
    var box = el("section", { id: "vmaplab-update", role: "region", "aria-labelledby": "vmaplab-update-title",
      style: "position:fixed;right:16px;bottom:40px;z-index:10000;max-width:34em;padding:12px 16px;" +
             "background:#fff;color:#1a1a1a;border:2px solid #1f4e8c;border-radius:6px;" +
             "box-shadow:0 2px 12px rgba(0,0,0,.3);font:14px/1.4 system-ui,sans-serif" });
    box.appendChild(el("h2", { id: "vmaplab-update-title", style: "font-size:16px;margin:0 0 6px" },
                       "The course was updated"));
    var said = el("p", { style: "margin:0 0 6px", "aria-live": "polite" });
    said.textContent = "The notebooks here are the course as it is now (vmaplab " + VMAPLAB_SITE.version + "). " +
      "This browser still keeps " + files.length + (files.length === 1 ? " file" : " files") +
      " you saved before the update" + (others.length ? " (vmaplab " + others.join(", ") + ")" : "") + ": " +
      files.join(", ") + ". Nothing of yours is lost.";
    box.appendChild(said);
    var how = el("p", { style: "margin:0 0 8px" }, "Bring them here to keep working on them: each goes beside " +
      "the new notebooks, renamed \u201cNAME (my copy of DATE)\u201d where the course has a file of the same name.");
    box.appendChild(how);
    var row = el("div", { style: "display:flex;gap:8px;flex-wrap:wrap" });
    var copy = el("button", { type: "button", id: "vmaplab-update-copy",
      style: "padding:4px 10px;background:#1f4e8c;color:#fff;border:1px solid #1f4e8c;border-radius:4px" },
      "Bring my earlier copies here");
    var later = el("button", { type: "button", id: "vmaplab-update-later",
      style: "padding:4px 10px;background:#fff;color:#1f4e8c;border:1px solid #1f4e8c;border-radius:4px" },
      "Not now");
    var never = el("button", { type: "button", id: "vmaplab-update-never",
      style: "padding:4px 10px;background:#fff;color:#1f4e8c;border:1px solid #1f4e8c;border-radius:4px" },
      "Don\u2019t ask again");
    row.appendChild(copy); row.appendChild(later); row.appendChild(never); box.appendChild(row);
    later.onclick = function () { sessionStorage.setItem(LATER, "1"); box.remove(); };
    never.onclick = function () {
      earlier.forEach(function (g) { localStorage.setItem(DISMISSED + g.name, VMAPLAB_SITE.storage); });
      box.remove();
    };
    copy.onclick = function () {
      copy.disabled = true;
      readFiles(VMAPLAB_SITE.storage).then(function (present) {
        var moves = plan(earlier, present);
        return writeFiles(VMAPLAB_SITE.storage, moves).then(function () { return moves; });
      }).then(function (moves) {
        earlier.forEach(function (g) { localStorage.setItem(COPIED + g.name, VMAPLAB_SITE.storage); });
        var placed = moves.filter(function (m) { return m.from; }).map(function (m) { return m.to; });
        said.textContent = "Done: " + placed.length + (placed.length === 1 ? " file is" : " files are") +
          " here: " + placed.join(", ") + ". The file browser lists " + (placed.length === 1 ? "it" : "them") +
          " within a few seconds (its refresh button: at once).";
        how.remove(); copy.remove(); never.remove();
        later.textContent = "Close";
        later.onclick = function () { box.remove(); };
        later.focus();
      }, function (err) {
        said.textContent = "The copy did not happen (" + err.message + "). Your files are unchanged.";
        copy.disabled = false;
      });
    };
    document.body.appendChild(box);
  }

  function start() {
    if (!VMAPLAB_SITE || !window.indexedDB || !window.localStorage) return;
    var own = VMAPLAB_SITE.storage;
    var order = earlierNames(own);
    if (!AGAIN && sessionStorage.getItem(LATER)) return;
    listDatabases(order.before).then(function (names) {
      var candidates = names.filter(function (n) {
        return n && n.indexOf(PREFIX) === 0 && n !== own && order.after.indexOf(n) < 0 &&
               (AGAIN || !(localStorage.getItem(COPIED + n) || localStorage.getItem(DISMISSED + n)));
      });
      // oldest first (those from before the prompt existed, then in the order this browser saw them), so
      // that a later version's copy of a file takes the "(my copy of DATE)" name after an earlier one's
      candidates.sort(function (a, b) {
        return order.before.indexOf(a) - order.before.indexOf(b) || (a < b ? -1 : a > b ? 1 : 0);
      });
      return Promise.all(candidates.map(function (n) {
        return readFiles(n).then(function (entries) { return { name: n, entries: entries }; });
      }));
    }).then(function (groups) {
      var earlier = groups.filter(function (g) { return g.entries.some(isFile); });
      if (earlier.length) show(earlier);
      // what the check found, for a reader of the page (and the browser test): "shown" or "nothing"
      document.documentElement.setAttribute("data-vmaplab-update", earlier.length ? "shown" : "nothing");
    });
  }

  if (typeof document === "undefined") {
    // not a page: node, in tests/test_lite_update.py, which checks where plan() puts each file
    module.exports = { plan: function (site, earlier, present) { VMAPLAB_SITE = site; return plan(earlier, present); } };
    return;
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
