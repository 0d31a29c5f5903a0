// skutag review page. Product text is untrusted: it is only ever set with textContent / value, never as HTML.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const state = { items: [], index: -1, key: sessionStorage.getItem("skutag-key") || "", searchHits: [] };

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function pathText(path) { return (path || []).join(" > "); }
  function pct(x) { return x === null || x === undefined ? "-" : (100 * x).toFixed(1) + "%"; }
  function say(message, isError) { const s = $("status"); s.textContent = message; s.className = isError ? "error" : ""; }

  async function api(method, url, body) {
    const headers = { "Accept": "application/json" };
    if (state.key) headers["Authorization"] = "Bearer " + state.key;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      let detail = data && data.detail !== undefined ? data.detail : res.statusText;
      if (typeof detail !== "string") detail = JSON.stringify(detail);
      throw new Error(res.status + ": " + detail);
    }
    return data;
  }

  function filters() {
    const p = new URLSearchParams();
    if ($("filter-category").value) p.set("category", $("filter-category").value);
    if ($("filter-model").value) p.set("model_version", $("filter-model").value);
    return p;
  }

  function fillSelect(select, values) {
    const keep = select.value;
    while (select.options.length > 1) select.remove(1);
    for (const v of values) { const o = el("option", v); o.value = v; select.appendChild(o); }
    if (values.includes(keep)) select.value = keep;
  }

  async function loadFacets() {
    const f = await api("GET", "/v1/review/facets");
    fillSelect($("filter-category"), f.categories);
    fillSelect($("filter-model"), f.model_versions);
  }

  async function loadStats() {
    const s = await api("GET", "/v1/review/stats");
    const body = $("stats-body");
    clear(body);
    for (const row of s.acceptance) {
      const tr = el("tr");
      tr.appendChild(el("td", row.category));
      tr.appendChild(el("td", row.reviewed));
      tr.appendChild(el("td", pct(row.rate)));
      body.appendChild(tr);
    }
  }

  async function loadQueue(keepId) {
    const p = filters();
    p.set("limit", "200");
    const q = await api("GET", "/v1/review/queue?" + p.toString());
    state.items = q.items;
    $("queue-count").textContent = q.total + " to review";
    const list = $("queue-list");
    clear(list);
    q.items.forEach((item, i) => {
      const li = el("li");
      li.dataset.index = String(i);
      li.appendChild(el("span", pct(item.prediction ? item.prediction.path_score : null), "score"));
      li.appendChild(el("span", item.name || item.id, "name"));
      li.addEventListener("click", () => select(i));
      list.appendChild(li);
    });
    let idx = keepId ? state.items.findIndex((it) => it.id === keepId) : -1;
    if (idx < 0) idx = state.items.length ? Math.min(Math.max(state.index, 0), state.items.length - 1) : -1;
    select(idx);
  }

  function current() { return state.index >= 0 ? state.items[state.index] : null; }

  function select(i) {
    state.index = i;
    for (const li of $("queue-list").children) li.classList.toggle("selected", Number(li.dataset.index) === i);
    const item = current();
    $("item").hidden = !item;
    $("empty").hidden = !!item;
    if (!item) return;
    const pred = item.prediction || { topk: [], path: [], level_scores: [] };
    $("item-name").textContent = item.name || "(no name)";
    $("item-id").textContent = item.id;
    $("item-model").textContent = pred.model_version || "-";
    $("item-confidence").textContent = pct(pred.path_score);
    $("item-threshold").textContent = pct(pred.threshold);
    $("item-description").textContent = item.description || "";
    const dl = $("item-fields");
    clear(dl);
    for (const [k, v] of Object.entries(item.fields || {})) {
      if (k === "name" || k === "description" || !v) continue;
      dl.appendChild(el("dt", k));
      dl.appendChild(el("dd", v));
    }
    const sugg = $("suggestions");
    clear(sugg);
    (pred.topk || []).forEach((alt, j) => {
      const li = el("li");
      const b = el("button", "");
      b.type = "button";
      b.className = "suggestion";
      b.dataset.rank = String(j + 1);
      b.appendChild(el("kbd", String(j + 1)));
      b.appendChild(document.createTextNode(" " + pathText(alt.path) + "  (" + pct(alt.score) + ")"));
      b.addEventListener("click", () => choose(alt.path, j === 0));
      li.appendChild(b);
      if (j === 0 && pred.level_scores && pred.level_scores.length) {
        li.appendChild(el("div", "per level: " + pred.level_scores.map(pct).join(" / "), "muted"));
      }
      sugg.appendChild(li);
    });
    const tags = pred.tags || {};
    $("tags").value = Object.entries(tags).map(([k, v]) => k + "=" + v).join("\n");
    clear($("taxonomy-results"));
    $("taxonomy-search").value = "";
    loadEvidence(item.id);
  }

  async function loadEvidence(id) {
    const list = $("evidence");
    clear(list);
    try {
      const ev = await api("GET", "/v1/review/evidence?id=" + encodeURIComponent(id));
      if (!current() || current().id !== id) return;
      for (const t of ev.tokens.slice(0, 8)) {
        const li = el("li");
        li.appendChild(el("span", t.token));
        li.appendChild(el("span", "  " + (t.weight >= 0 ? "+" : "") + (100 * t.weight).toFixed(1) + " pts", t.weight >= 0 ? "pos" : "neg"));
        li.appendChild(el("span", "  (" + t.field + ")", "muted"));
        list.appendChild(li);
      }
    } catch (e) { list.appendChild(el("li", "no evidence: " + e.message, "muted")); }
  }

  async function decide(body, message) {
    const item = current();
    if (!item) return;
    try {
      await api("POST", "/v1/review/decisions", Object.assign({ product_id: item.id }, body));
      state.items.splice(state.index, 1);
      await loadQueue(null);
      await loadStats();
      say(message + ": " + item.id);
    } catch (e) { say("could not save: " + e.message, true); }
  }

  function choose(path, isBest) {
    if (isBest) return decide({ action: "accept" }, "accepted");
    return decide({ action: "correct", path: path }, "corrected to " + pathText(path));
  }

  function parseTags(text) {
    const tags = {};
    for (const line of text.split("\n")) {
      const i = line.indexOf("=");
      if (i > 0) tags[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    return tags;
  }

  let searchTimer = null;
  async function search() {
    const q = $("taxonomy-search").value;
    const res = await api("GET", "/v1/review/taxonomy?limit=30&q=" + encodeURIComponent(q));
    state.searchHits = res.paths;
    const list = $("taxonomy-results");
    clear(list);
    for (const path of res.paths) {
      const li = el("li");
      const b = el("button", pathText(path));
      b.type = "button";
      b.className = "pick";
      b.addEventListener("click", () => choose(path, false));
      li.appendChild(b);
      list.appendChild(li);
    }
  }

  function typing(target) { return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT"); }

  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && typing(ev.target)) { ev.target.blur(); return; }
    if (typing(ev.target) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const item = current();
    if (ev.key === "?") { $("help").hidden = !$("help").hidden; }
    else if (ev.key === "j") { if (state.index < state.items.length - 1) select(state.index + 1); }
    else if (ev.key === "k") { if (state.index > 0) select(state.index - 1); }
    else if (ev.key === "/") { ev.preventDefault(); $("taxonomy-search").focus(); }
    else if (ev.key === "t") { ev.preventDefault(); $("tags").focus(); }
    else if (item && ev.key === "a") { choose(null, true); }
    else if (item && /^[1-9]$/.test(ev.key)) {
      const alt = (item.prediction ? item.prediction.topk : [])[Number(ev.key) - 1];
      if (alt) choose(alt.path, ev.key === "1");
    } else return;
    ev.preventDefault();
  });

  async function start() {
    say("");
    try { await loadFacets(); await loadQueue(null); await loadStats(); }
    catch (e) { say(e.message.startsWith("401") ? "enter a valid API key" : e.message, true); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("api-key").value = state.key;
    $("key-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      state.key = $("api-key").value.trim();
      sessionStorage.setItem("skutag-key", state.key);
      start();
    });
    $("help-toggle").addEventListener("click", () => { $("help").hidden = !$("help").hidden; });
    $("filter-category").addEventListener("change", () => loadQueue(null).catch((e) => say(e.message, true)));
    $("filter-model").addEventListener("change", () => loadQueue(null).catch((e) => say(e.message, true)));
    $("accept").addEventListener("click", () => choose(null, true));
    $("save-tags").addEventListener("click", () => decide({ action: "edit_tags", tags: parseTags($("tags").value) }, "tags saved"));
    $("taxonomy-search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(() => search().catch((e) => say(e.message, true)), 150); });
    $("taxonomy-search").addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") {
        ev.preventDefault();
        clearTimeout(searchTimer);
        search().then(() => { if (state.searchHits.length) choose(state.searchHits[0], false); }).catch((e) => say(e.message, true));
      }
    });
    start();
  });
})();
