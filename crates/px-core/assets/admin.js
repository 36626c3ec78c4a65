// PowerX Admin: helpers every page shares. No dependencies, no build step.
// window.PX: api() for JSON calls with the CSRF header, stream() for the
// plugin.dev.logs WebSocket, fragment() to refetch server-rendered HTML,
// confirm() on the page's <dialog>, toast(), and the copy buttons.
"use strict";

(function () {
  const csrf = () => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  };

  // Builds an element: h("p", {class: "x"}, "text", child, …). Text is never parsed as HTML.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "style") el.style.cssText = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  // A JSON call to Core's API with the session's CSRF token.
  async function api(method, path, body) {
    const headers = { "X-CSRF-Token": csrf(), Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let json = null;
    try {
      json = await response.json();
    } catch (_) {
      json = null;
    }
    return { status: response.status, ok: response.ok, json };
  }

  // Refetches server-rendered HTML; null when gone (404). A lost session goes to the login page.
  async function fragment(path) {
    const response = await fetch(path, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (response.redirected && new URL(response.url).pathname === "/admin/login") {
      location.href = "/admin/login?next=" + encodeURIComponent(location.pathname);
      return null;
    }
    if (response.status === 404) return null;
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response.text();
  }

  // Runs fn at most once at a time, coalescing calls that arrive meanwhile.
  function coalesce(fn, wait) {
    let timer = null;
    let running = false;
    let again = false;
    async function run() {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        await fn();
      } catch (e) {
        console.warn("refresh failed", e);
      } finally {
        running = false;
        if (again) {
          again = false;
          schedule();
        }
      }
    }
    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(run, wait === undefined ? 60 : wait);
    }
    return schedule;
  }

  // Follows plugin.dev.logs for one plugin (or "*"). opts: since (backfill
  // from this seq; omit for live only), onMessage(msg), onState(state, why),
  // onLive() after each (re)subscription, onMissed(count), poll() called every
  // 2 s while the socket is not live. Reconnects with backoff and resumes
  // after the last seq it saw, so nothing is shown twice.
  function stream(pluginId, opts) {
    let last = opts.since === undefined ? null : opts.since;
    let socket = null;
    let delay = 500;
    let state = "connecting";
    let closed = false;
    const setState = (s, why) => {
      state = s;
      if (opts.onState) opts.onState(s, why);
    };
    function connect() {
      setState("connecting");
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      socket = new WebSocket(proto + "//" + location.host + "/api/ws");
      socket.onopen = () => {
        const subscribe = { op: "subscribe", channel: "plugin.dev.logs", plugin_id: pluginId };
        if (last !== null) subscribe.since = last;
        socket.send(JSON.stringify(subscribe));
      };
      socket.onmessage = (event) => {
        let m;
        try {
          m = JSON.parse(event.data);
        } catch (_) {
          return;
        }
        if (m.op === "subscribed") {
          delay = 500;
          if (last === null) last = m.last_seq;
          setState("live");
          if (opts.onLive) opts.onLive();
        } else if (m.op === "missed") {
          if (opts.onMissed) opts.onMissed(m.count);
        } else if (m.op === "error") {
          setState("down", m.message);
        } else if (typeof m.seq === "number") {
          if (last !== null && m.seq <= last) return;
          last = m.seq;
          opts.onMessage(m);
        }
      };
      socket.onclose = () => {
        if (closed) return;
        setState("down");
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 8000);
      };
    }
    if (opts.poll) {
      setInterval(() => {
        if (state !== "live" && !document.hidden) opts.poll();
      }, 2000);
    }
    connect();
    return {
      close() {
        closed = true;
        if (socket) socket.close();
      },
    };
  }

  // onState for a .live indicator element.
  function indicator(el) {
    const words = { live: "live", connecting: "connecting…", down: "reconnecting…", polling: "polling" };
    return (state, why) => {
      if (!el) return;
      el.dataset.state = state;
      el.textContent = words[state] || state;
      el.title = why || "";
    };
  }

  // Asks on the page's #confirm dialog; resolves true when confirmed.
  function confirmAction(text, okLabel) {
    const dialog = document.getElementById("confirm");
    if (!dialog || typeof dialog.showModal !== "function") return Promise.resolve(window.confirm(text));
    document.getElementById("confirm-text").textContent = text;
    document.getElementById("confirm-ok").textContent = okLabel || "Confirm";
    dialog.returnValue = "";
    dialog.showModal();
    document.getElementById("confirm-cancel").focus();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    });
  }

  let toastTimer = null;
  function toast(text) {
    let el = document.getElementById("toast");
    if (!el) {
      el = h("div", { id: "toast", class: "toast", role: "status" });
      document.body.append(el);
    }
    el.textContent = text;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (el.hidden = true), 3500);
  }

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      const area = h("textarea", { class: "sr-only" });
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    toast("Copied");
  }

  // Redraws the alert banner from GET /api/alerts.
  async function refreshAlerts() {
    const banner = document.getElementById("alert-banner");
    if (!banner) return;
    const r = await api("GET", "/api/alerts");
    if (!r.ok || !Array.isArray(r.json)) return;
    const firing = r.json.filter((a) => a.firing);
    banner.replaceChildren(h("strong", {}, "Alert firing"), h("ul", {}, firing.map((a) => h("li", {}, a.message))));
    banner.hidden = firing.length === 0;
  }

  // Redraws the sidebar (plugin menus come and go with installs) from a fresh render of this page.
  const refreshNav = coalesce(async () => {
    const html = await fragment(location.pathname + location.search);
    if (html === null) return;
    const fresh = new DOMParser().parseFromString(html, "text/html").querySelector(".sidebar nav");
    const current = document.querySelector(".sidebar nav");
    if (!fresh || !current) return;
    // menu groups the user opened or closed stay that way
    const open = new Map([...current.querySelectorAll("details[data-menu]")].map((d) => [d.dataset.menu, d.open]));
    for (const d of fresh.querySelectorAll("details[data-menu]")) {
      if (open.has(d.dataset.menu)) d.open = open.get(d.dataset.menu);
    }
    current.replaceWith(document.importNode(fresh, true));
  }, 150);

  // Lifecycle events after which the sidebar and the alerts may have changed.
  function settled(m) {
    const name = (m.kind === "event" && m.data && m.data.event) || "";
    if (["install.succeeded", "install.rolled_back", "install.rejected", "plugin.uninstalled"].includes(name)) {
      refreshAlerts();
      refreshNav();
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (source) copyText(source.textContent.trim());
  });

  const utcTime = (ms) => new Date(ms).toISOString().slice(11, 23);

  window.PX = { h, api, fragment, coalesce, stream, indicator, confirm: confirmAction, toast, copyText, refreshAlerts, refreshNav, settled, utcTime };
})();
