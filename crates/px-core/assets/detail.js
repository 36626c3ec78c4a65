// /admin/plugins/{id}: the live log panel (backfilled from the buffer on
// open, then live), the status part re-rendered on each lifecycle event, and
// the rollback and uninstall buttons (with confirmation).
"use strict";

(function () {
  const { h, api, fragment, coalesce, stream, indicator, confirm, toast, copyText, settled, utcTime } = window.PX;
  const status = document.getElementById("status");
  const id = status.dataset.plugin;
  const log = document.getElementById("log");
  const pauseButton = document.getElementById("log-pause");
  const pausedNote = document.getElementById("log-paused");
  const heldCount = document.getElementById("log-held");
  const MAX_LINES = 5000;
  const shown = { stdout: true, stderr: true, core: true };
  let paused = false;
  let held = [];

  const refresh = coalesce(async () => {
    const html = await fragment("/admin/plugins/" + encodeURIComponent(id) + "/_status");
    if (html === null) {
      status.replaceChildren(h("p", { class: "notice warn", id: "gone" }, "This plugin is no longer installed."));
      for (const b of document.querySelectorAll("[data-action]")) b.hidden = true;
      return;
    }
    status.innerHTML = html;
  });

  function line(m) {
    const label = m.kind === "event" ? "event" : m.stream;
    const li = h(
      "li",
      { class: [m.stream, "level-" + m.level, "kind-" + m.kind].join(" "), "data-stream": m.stream },
      h("span", { class: "ts" }, utcTime(m.ts)),
      h("span", { class: "st" }, label),
      h("span", { class: "rv" }, m.revision ? "r" + m.revision : ""),
      h("span", { class: "msg" }, m.message),
    );
    li.hidden = !shown[m.stream];
    return li;
  }

  function append(items) {
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    const fragmentNode = document.createDocumentFragment();
    for (const m of items) fragmentNode.append(line(m));
    log.append(fragmentNode);
    while (log.childElementCount > MAX_LINES) log.firstElementChild.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  function note(text) {
    log.append(h("li", { class: "note" }, text));
  }

  stream(id, {
    since: 0,
    onMessage(m) {
      if (paused) {
        held.push(m);
        heldCount.textContent = String(held.length);
      } else {
        append([m]);
      }
      if (m.kind === "event") {
        refresh();
        settled(m);
      }
    },
    onMissed(count) {
      note("… " + count + " messages skipped (this browser fell behind)");
    },
    onLive: refresh,
    poll: refresh,
    onState: indicator(document.getElementById("live")),
  });

  for (const box of document.querySelectorAll('input[name="stream"]')) {
    box.addEventListener("change", () => {
      shown[box.value] = box.checked;
      for (const li of log.querySelectorAll("li[data-stream]")) li.hidden = !shown[li.dataset.stream];
    });
  }

  pauseButton.addEventListener("click", () => {
    paused = !paused;
    pauseButton.setAttribute("aria-pressed", String(paused));
    pauseButton.textContent = paused ? "Resume" : "Pause";
    pausedNote.hidden = !paused;
    if (!paused && held.length) {
      append(held);
      held = [];
      heldCount.textContent = "0";
    }
  });

  document.getElementById("log-copy").addEventListener("click", () => {
    const text = [...log.querySelectorAll("li[data-stream]")]
      .filter((li) => !li.hidden)
      .map((li) => [...li.children].map((c) => c.textContent).join(" ").trim())
      .join("\n");
    copyText(text);
  });

  document.getElementById("log-clear").addEventListener("click", () => log.replaceChildren());

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    if (button.dataset.action === "rollback") {
      const revision = Number(button.dataset.revision);
      const ok = await confirm("Switch " + id + " to revision r" + revision + "? Traffic moves to it once it is healthy.", "Switch to r" + revision);
      if (!ok) return;
      button.disabled = true;
      const r = await api("POST", "/api/plugins/" + encodeURIComponent(id) + "/rollback", { revision });
      button.disabled = false;
      if (r.json && r.json.status) toast("Rollback: " + r.json.status.replace("_", " ") + (r.json.reason ? " — " + r.json.reason.message : ""));
      else toast("Rollback refused: " + (r.json && r.json.error ? r.json.error.message : "HTTP " + r.status));
      refresh();
    } else if (button.dataset.action === "uninstall") {
      const ok = await confirm("Uninstall " + id + "? Its process stops and its routes, menus, permissions and files are removed.", "Uninstall");
      if (!ok) return;
      button.disabled = true;
      const r = await api("DELETE", "/api/plugins/dev/install?plugin_id=" + encodeURIComponent(id));
      button.disabled = false;
      if (r.ok) {
        location.href = "/admin/plugins";
      } else {
        toast("Uninstall refused: " + (r.json && r.json.error ? r.json.error.message : "HTTP " + r.status));
      }
    }
  });
})();
