// /admin/p/{id}/…: the plugin's own page in a sandboxed frame, reloaded when
// a new revision of the plugin goes live (install.succeeded on plugin.dev.logs).
"use strict";

(function () {
  const { stream, toast, settled } = window.PX;
  const frame = document.getElementById("entry-frame");
  const label = document.getElementById("entry-revision");
  const id = frame.dataset.plugin;

  function reload(revision) {
    const url = new URL(frame.getAttribute("src"), location.href);
    url.searchParams.set("px_rev", revision === undefined ? String(Date.now()) : String(revision));
    frame.src = url.pathname + url.search;
    if (revision !== undefined) {
      frame.dataset.revision = String(revision);
      label.textContent = "revision " + revision;
    }
  }

  stream(id, {
    onMessage(m) {
      settled(m);
      const name = m.kind === "event" && m.data ? m.data.event : "";
      if (name === "install.succeeded" && m.revision && String(m.revision) !== frame.dataset.revision) {
        reload(m.revision);
        toast("Revision " + m.revision + " is live: page reloaded");
      } else if (name === "plugin.uninstalled") {
        toast("This plugin was uninstalled");
      }
    },
  });

  document.getElementById("entry-reload").addEventListener("click", () => reload());
})();
