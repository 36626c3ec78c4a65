// /admin/plugins: the table follows plugin.dev.logs (every plugin) and is
// re-rendered by the server on each lifecycle event; the install form posts
// to the dev API and shows the install report.
"use strict";

(function () {
  const { h, api, fragment, coalesce, stream, indicator, settled } = window.PX;
  const rows = document.getElementById("plugin-rows");

  const refresh = coalesce(async () => {
    const html = await fragment("/admin/plugins/_rows");
    if (html === null) return;
    const before = new Map([...rows.querySelectorAll("tr[data-plugin]")].map((tr) => [tr.dataset.plugin, tr.textContent]));
    rows.innerHTML = html;
    for (const tr of rows.querySelectorAll("tr[data-plugin]")) {
      if (before.get(tr.dataset.plugin) !== tr.textContent) tr.classList.add("flash");
    }
  });

  stream("*", {
    onMessage(m) {
      if (m.kind !== "event") return;
      refresh();
      settled(m);
    },
    onLive: refresh,
    poll: refresh,
    onState: indicator(document.getElementById("live")),
  });

  const form = document.getElementById("install-form");
  if (!form) return;
  const input = document.getElementById("install-path");
  const submit = document.getElementById("install-submit");
  const out = document.getElementById("install-report");
  const words = { active: "active", rolled_back: "rolled back", rejected: "rejected" };
  const keys = { active: "active", rolled_back: "rolled-back", rejected: "failed" };

  function renderReport(status, report) {
    const parts = [];
    const head = h(
      "div",
      { class: "report-head" },
      h("span", { class: "pill " + (keys[report.status] || ""), id: "report-status" }, words[report.status] || report.status),
      h("strong", {}, report.plugin_id || "unknown plugin"),
      report.version ? h("span", {}, report.version) : null,
      report.revision ? h("span", { class: "tag" }, "r" + report.revision) : null,
      h("span", { class: "muted" }, "in " + report.duration_ms + " ms · HTTP " + status),
      report.plugin_id ? h("a", { href: "/admin/plugins/" + report.plugin_id }, "Details →") : null,
    );
    parts.push(head);
    if (report.reason) {
      const r = report.reason;
      parts.push(
        h(
          "div",
          { class: "notice error", id: "report-reason" },
          h("p", {}, h("code", {}, r.code), ": " + r.message),
          r.log_tail && r.log_tail.length ? h("pre", { class: "tail" }, r.log_tail.join("\n")) : null,
          (r.details || []).length ? h("pre", { class: "tail" }, r.details.map((d) => JSON.stringify(d)).join("\n")) : null,
        ),
      );
    }
    const phases = report.phases || [];
    if (phases.length) {
      const max = Math.max(1, ...phases.map((p) => p.ms));
      parts.push(
        h(
          "div",
          { class: "bars", role: "list", "aria-label": "Install phases" },
          phases.map((p) =>
            h(
              "div",
              { class: "bar" + (p.ok ? "" : " bad"), role: "listitem" },
              h("span", {}, (p.ok ? "✓ " : "✗ ") + p.name),
              h("span", { class: "track" }, h("span", { class: "fill", style: "width:" + Math.max(1, (100 * p.ms) / max) + "%" })),
              h("span", { class: "ms" }, p.ms + " ms"),
            ),
          ),
        ),
      );
    }
    out.replaceChildren(...parts);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const path = input.value.trim();
    if (!path) return;
    submit.disabled = true;
    submit.textContent = "Installing…";
    out.hidden = false;
    out.replaceChildren(h("p", { class: "muted" }, "Installing ", h("code", {}, path), "…"));
    try {
      const r = await api("POST", "/api/plugins/dev/install", { source: { kind: "dir", path } });
      if (r.json && r.json.install_id !== undefined) {
        renderReport(r.status, r.json);
      } else {
        const message = r.json && r.json.error ? r.json.error.message : "HTTP " + r.status;
        out.replaceChildren(h("p", { class: "notice error", id: "report-reason" }, message));
      }
    } catch (e) {
      out.replaceChildren(h("p", { class: "notice error" }, "Could not reach Core: " + e.message));
    } finally {
      submit.disabled = false;
      submit.textContent = "Install";
      refresh();
    }
  });
})();
