// The operator's console of the WIS2 chain: plain JavaScript, no build step, no
// framework, no network but its own server (the API under api/, relative to the
// page). Every text from the server goes into the page through textContent or
// setAttribute, never as HTML. Times are shown in UTC.
"use strict";

(() => {
  const PAGE_SIZE = 50;
  const REFRESH_MS = 30000;
  const TYPING_MS = 300;
  const $ = (id) => document.getElementById(id);

  // ---- Helpers --------------------------------------------------------------

  // An element with attributes ("class" and "on<event>" handled apart) and children
  // (nodes, or strings, which become text nodes).
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value == null) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }

  // "2024-05-01 12:00:03Z" from an RFC 3339 time (or the text itself if unreadable).
  function fmtTime(iso) {
    const d = new Date(iso ?? NaN);
    if (isNaN(d)) return iso == null || iso === "" ? "—" : String(iso);
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  // "12:00:03" (UTC) for the compact list of steps.
  function fmtClock(iso) {
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toISOString().slice(11, 19);
  }

  // The value of a datetime-local input, read as UTC, as RFC 3339; null when empty.
  function inputTime(input) {
    if (!input.value) return null;
    const d = new Date(input.value + "Z");
    return isNaN(d) ? null : d.toISOString();
  }

  // The text of a non-2xx answer: its status and its body (or the body's "error").
  async function errorText(resp) {
    let body = (await resp.text().catch(() => "")).trim();
    try {
      const json = JSON.parse(body);
      const msg = json?.error ?? json?.message ?? json?.reason;
      if (typeof msg === "string") body = msg;
    } catch (_) { /* plain text */ }
    return `${resp.status} ${resp.statusText}`.trim() + (body ? `: ${body}` : "");
  }

  async function getJSON(url) {
    const resp = await fetch(url, { headers: { Accept: "application/json" } });
    if (!resp.ok) {
      const err = new Error(await errorText(resp));
      err.status = resp.status;
      throw err;
    }
    return resp.json();
  }

  // One line of errors under the header, one entry per part of the page.
  const errors = new Map();
  function reportError(what, err) {
    if (err) errors.set(what, `${what}: ${err.message || err}`);
    else errors.delete(what);
    const box = $("error");
    box.textContent = [...errors.values()].join(" · ");
    box.hidden = errors.size === 0;
  }

  // GET url, then render its JSON; errors go to the error line, under `what`.
  const load = (what, url, render) => getJSON(url).then(
    (data) => { render(data); reportError(what, null); },
    (err) => reportError(what, err));

  // Only http(s) links (or relative ones) become an href.
  function safeHref(link) {
    try {
      const url = new URL(link, location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_) { return null; }
  }

  // A path or id whose lines may break after each "/" (<wbr>, no text of its own).
  function breakable(text) {
    const frag = document.createDocumentFragment();
    String(text ?? "").split(/(?<=\/)/).forEach((part, i) => frag.append(...(i ? [el("wbr"), part] : [part])));
    return frag;
  }

  function pretty(value) {
    return typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }

  // ---- Files ------------------------------------------------------------------

  const files = { rows: new Map(), total: 0, seq: 0, selected: null };
  const filesBody = () => $("files").tBodies[0];

  const currentFilter = () => ({
    q: $("search").value.trim(), state: $("state").value, from: inputTime($("from")), to: inputTime($("to")),
  });

  function filesURL(offset) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(currentFilter())) if (value) params.set(key, value);
    params.set("limit", PAGE_SIZE);
    params.set("offset", offset);
    return `api/files?${params}`;
  }

  // Whether a file from a live event belongs in the list as filtered: the state, the
  // search text in its path, data_id or message id (case-insensitive), and the time
  // of its first step within the range.
  function matches(file, f) {
    if (f.state && file.state !== f.state) return false;
    const q = f.q.toLowerCase();
    const fields = [file.path, file.data_id, file.message_id];
    if (q && !fields.some((v) => v != null && String(v).toLowerCase().includes(q))) return false;
    const times = (file.steps || []).map((s) => Date.parse(s.time)).filter((t) => !isNaN(t));
    const first = times.length ? Math.min(...times) : null;
    if (first != null && f.from && first < Date.parse(f.from)) return false;
    return !(first != null && f.to && first > Date.parse(f.to));
  }

  function fileRow(file) {
    const steps = el("td", { class: "steps" });
    (file.steps || []).forEach((step, i) => {
      if (i) steps.append(" → ");
      steps.append(el("span", { class: "step", "data-stage": step.stage, title: `${step.stage} ${fmtTime(step.time)}` },
        `${step.stage} ${fmtClock(step.time)}`));
    });
    const tr = el("tr", { "data-path": file.path, tabindex: "0", title: file.reason || null },
      el("td", { class: "path" }, breakable(file.path)),
      el("td", { class: "state", "data-state": file.state }, file.state),
      steps,
      el("td", { class: "message-id" }, file.message_id ?? ""),
      el("td", { class: "data-id" }, breakable(file.data_id)));
    if (file.path === files.selected) tr.classList.add("selected");
    return tr;
  }

  function renderCount() {
    const shown = files.rows.size;
    files.total = Math.max(files.total, shown);
    $("files-count").textContent = `${shown} of ${files.total} file${files.total === 1 ? "" : "s"}`;
    $("files-empty").hidden = shown > 0;
    $("more").hidden = shown >= files.total;
  }

  // The first page (replacing the list), or the next one (appended) with `more`.
  async function loadFiles(more = false) {
    const seq = ++files.seq;
    try {
      const data = await getJSON(filesURL(more ? files.rows.size : 0));
      if (seq !== files.seq) return;
      if (!more) {
        filesBody().replaceChildren();
        files.rows.clear();
      }
      for (const file of data.files || []) {
        if (files.rows.has(file.path)) continue;
        const tr = fileRow(file);
        filesBody().append(tr);
        files.rows.set(file.path, tr);
      }
      files.total = data.total ?? files.rows.size;
      renderCount();
      reportError("Files", null);
    } catch (err) {
      if (seq === files.seq) reportError("Files", err);
    }
  }

  // A file from a live event: updated in place, or inserted on top when new; a row
  // that no longer matches the filter leaves the list.
  function upsertFile(file) {
    if (!file || typeof file.path !== "string") return;
    const old = files.rows.get(file.path);
    if (!matches(file, currentFilter())) {
      if (!old) return;
      old.remove();
      files.rows.delete(file.path);
      files.total = Math.max(0, files.total - 1);
      return renderCount();
    }
    const tr = fileRow(file);
    if (old) old.replaceWith(tr);
    else {
      filesBody().prepend(tr);
      files.total += 1;
      tr.classList.add("fresh");
    }
    files.rows.set(file.path, tr);
    renderCount();
    if (file.path === files.selected) openJourney(file.path, false);
  }

  // ---- A file's journey --------------------------------------------------------

  let journeySeq = 0;
  const JOURNEY_PARTS = ["reason", "link", "message", "report"];

  function clearJourney() {
    $("journey-state").textContent = "";
    $("journey-steps").replaceChildren();
    $("journey-link").removeAttribute("href");
    for (const part of JOURNEY_PARTS) {
      $(`journey-${part}`).textContent = "";
      $(`journey-${part}-block`).hidden = true;
    }
  }

  function showJourney(file) {
    clearJourney();
    $("journey-status").textContent = "";
    $("journey-state").textContent = file.state ?? "";
    $("journey-state").dataset.state = file.state ?? "";
    $("journey-steps").replaceChildren(...(file.steps || []).map((step) =>
      el("li", { "data-stage": step.stage },
        el("span", { class: "stage" }, step.stage), " ",
        el("time", { datetime: step.time }, fmtTime(step.time)))));

    const dl = file.deadletter;
    const reason = dl?.reason ?? file.reason;
    if (reason) {
      $("journey-reason-title").textContent = dl
        ? `Dead letter ${dl.id ?? ""} (stage ${dl.stage ?? "?"}, ${fmtTime(dl.time)})`
        : "Reason";
      $("journey-reason").textContent = pretty(reason);
      $("journey-reason-block").hidden = false;
    }
    const href = safeHref(file.link);
    if (file.link) {
      const link = $("journey-link");
      if (href) link.href = href;
      link.textContent = file.link;
      $("journey-link-block").hidden = false;
    }
    for (const part of ["message", "report"]) {
      if (file[part] == null) continue;
      $(`journey-${part}`).textContent = pretty(file[part]);
      $(`journey-${part}-block`).hidden = false;
    }
  }

  async function openJourney(path, scroll = true) {
    files.selected = path;
    for (const tr of files.rows.values()) tr.classList.toggle("selected", tr.dataset.path === path);
    const section = $("journey");
    section.hidden = false;
    $("journey-path").textContent = path;
    const seq = ++journeySeq;
    if (scroll) {
      clearJourney();
      $("journey-status").textContent = "Loading…";
    }
    try {
      const data = await getJSON(`api/file?path=${encodeURIComponent(path)}`);
      if (seq !== journeySeq) return;
      showJourney(data.file || {});
    } catch (err) {
      if (seq !== journeySeq) return;
      clearJourney();
      $("journey-status").textContent = err.status === 404
        ? "The console knows no such file."
        : `Cannot load the journey: ${err.message}`;
    }
    if (scroll) section.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  function closeJourney() {
    journeySeq += 1;
    files.selected = null;
    $("journey").hidden = true;
    for (const tr of files.rows.values()) tr.classList.remove("selected");
  }

  // ---- Services ------------------------------------------------------------------

  function upsertService(s) {
    if (!s || typeof s.service !== "string") return;
    const list = $("services");
    let li = [...list.children].find((item) => item.dataset.service === s.service);
    if (!li) {
      li = el("li", { "data-service": s.service },
        el("span", { class: "name" }, s.service), " ", el("span", { class: "state" }));
      const after = [...list.children].find((item) => item.dataset.service > s.service);
      list.insertBefore(li, after || null);
    }
    const state = li.querySelector(".state");
    state.textContent = s.state;
    state.dataset.state = s.state;
    li.title = `${s.service}: ${s.state} since ${fmtTime(s.time)}`;
  }

  const loadStatus = () => load("Services", "api/status", (data) => {
    $("services").replaceChildren();
    for (const s of data.services || []) upsertService(s);
  });

  // ---- Dead letters ----------------------------------------------------------------

  const dead = { rows: new Map(), replayed: new Set() };
  let password = null; // the operator's, in memory only, for this page's life

  function deadRow(d) {
    const open = (e) => { e.preventDefault(); openJourney(d.path); };
    const pathCell = el("td", { class: "path" }, d.path ? el("a", { href: "#journey", onclick: open }, d.path) : null);
    const action = el("td", { class: "action" });
    if (dead.replayed.has(d.id)) action.append(el("span", { class: "replayed" }, "replayed"));
    else action.append(el("button", { type: "button", class: "replay", "data-id": d.id }, "Replay"));
    const tr = el("tr", { "data-id": d.id },
      el("td", { class: "time", title: d.time }, fmtTime(d.time)),
      el("td", { class: "stage" }, d.stage ?? ""),
      el("td", { class: "reason" }, d.reason == null ? "" : pretty(d.reason)),
      pathCell,
      action);
    if (dead.replayed.has(d.id)) tr.classList.add("replayed");
    return tr;
  }

  function upsertDeadLetter(d, live) {
    if (!d || d.id == null) return;
    const id = String(d.id);
    const tr = deadRow({ ...d, id });
    const old = dead.rows.get(id);
    const body = $("deadletters").tBodies[0];
    if (old) old.replaceWith(tr);
    else if (live) body.prepend(tr);
    else body.append(tr);
    dead.rows.set(id, tr);
    $("deadletters-empty").hidden = true;
  }

  const loadDeadLetters = () => load("Dead letters", "api/deadletters", (data) => {
    $("deadletters").tBodies[0].replaceChildren();
    dead.rows.clear();
    for (const d of data.deadletters || []) upsertDeadLetter(d, false);
    $("deadletters-empty").hidden = dead.rows.size > 0;
  });

  function setDeadStatus(text, failed = false) {
    const status = $("deadletters-status");
    status.textContent = text;
    status.classList.toggle("failed", failed);
  }

  // Asks for the operator's password; resolves to it, or to null when cancelled.
  function askPassword() {
    const dialog = $("auth");
    const input = $("password");
    input.value = "";
    dialog.returnValue = "";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        resolve(dialog.returnValue === "ok" && input.value ? input.value : null);
        input.value = "";
      }, { once: true });
      dialog.showModal();
      input.focus();
    });
  }

  // The credentials as UTF-8, base64 (btoa alone takes only Latin-1).
  const basicAuth = (user, pass) =>
    `Basic ${btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${pass}`)))}`;

  async function replay(id, button) {
    if (password == null) {
      password = await askPassword();
      if (password == null) return;
    }
    button.disabled = true;
    setDeadStatus(`Replaying ${id}…`);
    try {
      const resp = await fetch(`api/deadletters/${encodeURIComponent(id)}/replay`, {
        method: "POST",
        headers: {
          Accept: "application/json",
          Authorization: basicAuth("operator", password),
          "X-Requested-With": "wis2-console",
        },
      });
      if (!resp.ok) {
        if (resp.status === 401 || resp.status === 403) password = null;
        throw new Error(await errorText(resp));
      }
      const result = await resp.json().catch(() => ({}));
      dead.replayed.add(id);
      const row = dead.rows.get(id);
      if (row) {
        row.classList.add("replayed");
        row.querySelector(".action").replaceChildren(
          el("span", { class: "replayed", title: result.topic ? `on ${result.topic}` : null }, "replayed"));
      }
      setDeadStatus(`Replayed ${id}${result.topic ? ` on ${result.topic}` : ""}.`);
    } catch (err) {
      button.disabled = false;
      setDeadStatus(`Replay of ${id} failed: ${err.message}`, true);
    }
  }

  // ---- Discovery metadata -------------------------------------------------------------

  // ---- Global Broker monitoring events --------------------------------------------------

  const monitorRow = (m) =>
    el("tr", { "data-id": m.id, class: m.problem ? "problem" : null },
      el("td", { class: "time", title: m.received }, fmtTime(m.received)),
      el("td", { class: "type" }, m.type ?? ""),
      el("td", { class: "source" }, m.source ?? ""),
      el("td", { class: "ours", title: m.data_id ?? "" }, m.message_id ?? ""),
      el("td", { class: "detail" }, m.detail ?? ""));

  const loadMonitor = () => load("Monitoring events", "api/monitor", (data) => {
    const events = data.events || [];
    $("monitor").tBodies[0].replaceChildren(...events.map(monitorRow));
    $("monitor-empty").hidden = events.length > 0;
  });

  // ---- Unreadable messages ----------------------------------------------------------------

  const unreadableRow = (u) =>
    el("tr", {},
      el("td", { class: "time", title: u.time }, fmtTime(u.time)),
      el("td", { class: "topic" }, u.topic ?? ""),
      el("td", { class: "reason" }, u.reason ?? ""),
      el("td", { class: "excerpt" }, el("code", {}, u.excerpt ?? "")));

  const loadUnreadable = () => load("Unreadable messages", "api/unreadable", (data) => {
    const payloads = data.unreadable || [];
    $("unreadable").tBodies[0].replaceChildren(...payloads.map(unreadableRow));
    $("unreadable-empty").hidden = payloads.length > 0;
  });

  const loadMetadata = () => load("Metadata", "api/metadata", (data) => {
    const records = data.records || [];
    $("metadata").tBodies[0].replaceChildren(...records.map((r) =>
      el("tr", { "data-id": r.id },
        el("td", { class: "id" }, r.id ?? ""),
        el("td", { class: "path" }, r.path ?? ""),
        el("td", { class: "announced", title: r.announced }, fmtTime(r.announced)),
        el("td", { class: "reannounced", title: r.reannounced }, fmtTime(r.reannounced)))));
    $("metadata-empty").hidden = records.length > 0;
  });

  // ---- Charts ---------------------------------------------------------------------------

  const charts = { window: "hour", rates: null, latency: null, seq: 0 };
  const RATE_SERIES = [
    { label: "published", stroke: "#2e7d32", fill: "rgba(46,125,50,0.08)", width: 2 },
    { label: "rejected", stroke: "#e08a00", width: 2 },
    { label: "dead-lettered", stroke: "#c62828", width: 2 },
  ];
  // Minutes without publication have no latency: points show the lone ones.
  const LATENCY_SERIES = [
    { label: "p50", stroke: "#1565c0", width: 2, points: { show: true, size: 4 } },
    { label: "p95", stroke: "#7b1fa2", width: 2, points: { show: true, size: 4 } },
    { label: "p99", stroke: "#ad1457", width: 2, points: { show: true, size: 4 }, dash: [6, 4] },
  ];

  // One column per minute of the window, ending at the current minute: no activity
  // is 0 files and no latency (a gap), whether or not the server sends the minute.
  function columns(minutes, range) {
    const span = range === "day" ? 1440 : 60;
    const byMinute = new Map(minutes.map((m) => [Math.floor(m.t / 60) * 60, m]));
    let end = Math.floor(Date.now() / 60000) * 60;
    for (const t of byMinute.keys()) end = Math.max(end, t);
    const cols = [[], [], [], [], [], [], []];
    const num = (v) => (typeof v === "number" && isFinite(v) ? v : null);
    for (let i = span - 1; i >= 0; i -= 1) {
      const t = end - i * 60;
      const m = byMinute.get(t) || {};
      cols[0].push(t);
      ["published", "rejected", "deadletter"].forEach((k, j) => cols[1 + j].push(num(m[k]) ?? 0));
      ["p50", "p95", "p99"].forEach((k, j) => cols[4 + j].push(num(m[k])));
    }
    return cols;
  }

  // uPlot's date templates, in 24 h and ISO order.
  const ISO_DATES = [[/\{h\}\{aa\}/g, "{HH}:00"], [/\{h\}/g, "{HH}"], [/\{aa\}/g, ""],
    [/\{M\}\/\{D\}\/\{YY\}/g, "{YYYY}-{MM}-{DD}"], [/\{M\}\/\{D\}/g, "{MM}-{DD}"]];

  function makeChart(container, title, series, unit) {
    const value = (u, v) => (v == null ? "–" : `${Math.round(v * 10) / 10}${unit}`);
    return new uPlot({
      title,
      width: Math.max(280, container.clientWidth),
      height: 240,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      fmtDate: (tpl) => uPlot.fmtDate(ISO_DATES.reduce((t, [re, to]) => t.replace(re, to), tpl)),
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max || 0, 1)] } },
      series: [{ label: "UTC" }, ...series.map((s) => ({ ...s, value, spanGaps: false }))],
      axes: [{}, { size: 60, values: (u, ticks) => ticks.map((t) => `${t}${unit}`) }],
    }, [[], [], [], []], container);
  }

  function drawCharts(cols) {
    if (typeof uPlot !== "function") {
      $("chart-rates").textContent = "The chart library did not load.";
      return;
    }
    if (!charts.rates) {
      charts.rates = makeChart($("chart-rates"), "Files per minute", RATE_SERIES, "");
      charts.latency = makeChart($("chart-latency"), "Latency (file to published)", LATENCY_SERIES, " ms");
      new ResizeObserver(() => {
        for (const [chart, id] of [[charts.rates, "chart-rates"], [charts.latency, "chart-latency"]]) {
          const width = Math.max(280, $(id).clientWidth);
          if (width !== chart.width) chart.setSize({ width, height: 240 });
        }
      }).observe($("charts"));
    }
    charts.rates.setData([cols[0], cols[1], cols[2], cols[3]]);
    charts.latency.setData([cols[0], cols[4], cols[5], cols[6]]);
  }

  async function loadStats() {
    const seq = ++charts.seq;
    const range = charts.window;
    try {
      const data = await getJSON(`api/stats?window=${range}`);
      if (seq !== charts.seq) return;
      const minutes = (data.minutes || []).filter((m) => typeof m.t === "number");
      const cols = columns(minutes, range);
      const sum = (i) => cols[i].reduce((a, b) => a + b, 0);
      $("stats-summary").textContent = `${range === "day" ? "Last day" : "Last hour"}: `
        + `${sum(1)} published, ${sum(2)} rejected, ${sum(3)} dead-lettered.`;
      drawCharts(cols);
      reportError("Charts", null);
    } catch (err) {
      if (seq === charts.seq) reportError("Charts", err);
    }
  }

  function setWindow(range) {
    charts.window = range;
    for (const b of $("window").querySelectorAll("button[data-window]")) {
      b.setAttribute("aria-pressed", String(b.dataset.window === range));
    }
    loadStats();
  }

  // ---- Live updates ---------------------------------------------------------------

  function setLive(live, text) {
    const badge = $("live");
    badge.dataset.live = String(live);
    badge.textContent = text ?? (live ? "live" : "reconnecting…");
  }

  const refreshAll = () => {
    for (const reload of [loadStatus, loadFiles, loadDeadLetters, loadMetadata, loadMonitor, loadUnreadable, loadStats]) reload();
  };

  const onEvent = (handler) => (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch (err) {
      return console.warn("console: unreadable", event.type, "event", err);
    }
    return handler(data);
  };

  function connect() {
    if (typeof EventSource !== "function") {
      setLive(false, "no live updates");
      return;
    }
    const source = new EventSource("api/events");
    let dropped = false;
    source.addEventListener("open", () => {
      setLive(true);
      // Events were missed while disconnected: read everything again.
      if (dropped) refreshAll();
      dropped = false;
    });
    source.addEventListener("error", () => {
      dropped = true;
      setLive(false);
      // The browser reconnects by itself, except after an HTTP error: then retry.
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
    });
    source.addEventListener("file", onEvent(upsertFile));
    source.addEventListener("status", onEvent(upsertService));
    source.addEventListener("deadletter", onEvent((d) => upsertDeadLetter(d, true)));
    source.addEventListener("monitor", onEvent((m) => {
      $("monitor").tBodies[0].prepend(monitorRow(m));
      $("monitor-empty").hidden = true;
    }));
    source.addEventListener("unreadable", onEvent((u) => {
      $("unreadable").tBodies[0].prepend(unreadableRow(u));
      $("unreadable-empty").hidden = true;
    }));
  }

  // ---- Wiring -------------------------------------------------------------------------

  function start() {
    let typing = null;
    const search = $("search");
    search.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => loadFiles(), TYPING_MS);
    });
    // Enter submits the filters' form: search at once.
    $("filters").addEventListener("submit", (e) => {
      e.preventDefault();
      clearTimeout(typing);
      loadFiles();
    });
    for (const id of ["state", "from", "to"]) $(id).addEventListener("change", () => loadFiles());
    $("clear-filters").addEventListener("click", () => {
      for (const id of ["search", "state", "from", "to"]) $(id).value = "";
      loadFiles();
    });
    $("more").addEventListener("click", () => loadFiles(true));

    const body = filesBody();
    const open = (e) => {
      const tr = e.target.closest("tr[data-path]");
      if (tr) openJourney(tr.dataset.path);
    };
    body.addEventListener("click", open);
    body.addEventListener("keydown", (e) => {
      if (e.key === "Enter") open(e);
    });
    $("journey-close").addEventListener("click", closeJourney);

    $("deadletters").addEventListener("click", (e) => {
      const button = e.target.closest("button.replay");
      if (button && !button.disabled) replay(button.dataset.id, button);
    });

    $("window").addEventListener("click", (e) => {
      const button = e.target.closest("button[data-window]");
      if (button) setWindow(button.dataset.window);
    });

    refreshAll();
    connect();
    setInterval(() => { loadStats(); loadMetadata(); }, REFRESH_MS);
  }

  // The script is the page's last element: the DOM is there.
  start();
})();
