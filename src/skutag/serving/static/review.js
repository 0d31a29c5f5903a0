// skutag review page. Product text and tags are untrusted: they are only ever set with textContent / value /
// dataset, never as HTML.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const state = {
    items: [], index: -1, key: sessionStorage.getItem("skutag-key") || "", searchHits: [],
    // the tags of the product under review, in order: {name, entry, status: model|accepted|edited|added}
    tags: [], tagsDirty: false, texts: {}, selection: null,
    // the tags' explanations (GET /v1/review/evidence?tags=true), asked for per product: name -> explanation
    tagWhy: null,
  };
  const ENTRY_KEYS = ["value", "field", "start", "end", "confidence", "decision", "kind"];

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
    $("item-id").textContent = item.id;
    $("item-model").textContent = pred.model_version || "-";
    $("item-confidence").textContent = pct(pred.path_score);
    $("item-threshold").textContent = pct(pred.threshold);
    state.texts = productTexts(item);
    // a reviewer's tags win over the prediction they reviewed, not over a newer prediction (same-format times)
    const reviewed = item.review && !(pred.created_at && item.review.created_at < pred.created_at);
    const start = reviewed ? item.review.tags : pred.tags;
    state.tags = Object.entries(start || {}).map(([name, entry]) => ({ name: name, entry: copyEntry(entry), status: "model" }));
    state.tagsDirty = false;
    state.tagWhy = null;
    state.selection = null;
    $("selection-info").textContent = "";
    $("new-tag-name").value = "";
    $("new-tag-value").value = "";
    renderTexts();
    renderTags();
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
    clear($("taxonomy-results"));
    $("taxonomy-search").value = "";
    loadEvidence(item.id);
  }

  function highlighted(text, spans) {
    // text nodes and <mark> elements only (textContent): product text is never parsed as HTML
    const p = el("p", null, "explain-field");
    const chars = Array.from(text); // spans count code points (Python offsets), not UTF-16 units
    const cut = (a, b) => chars.slice(a, b).join("");
    const top = Math.max(1e-9, ...spans.map((s) => Math.abs(s.weight)));
    let pos = 0;
    for (const s of spans.slice().sort((a, b) => a.start - b.start)) {
      if (s.start < pos || s.end > chars.length || Math.abs(s.weight) / top < 0.15) continue;
      p.appendChild(document.createTextNode(cut(pos, s.start)));
      const m = el("mark", cut(s.start, s.end), s.weight > 0 ? "ex-pos" : "ex-neg");
      m.style.opacity = String(0.35 + 0.65 * Math.abs(s.weight) / top);
      m.title = (s.weight >= 0 ? "+" : "") + s.weight.toFixed(3);
      p.appendChild(m);
      pos = s.end;
    }
    p.appendChild(document.createTextNode(cut(pos, chars.length)));
    return p;
  }

  async function loadEvidence(id) {
    const list = $("evidence"), view = $("explain-view"), near = $("neighbours");
    clear(list); clear(view); clear(near);
    try {
      const ev = await api("GET", "/v1/review/evidence?id=" + encodeURIComponent(id));
      const item = current();
      if (!item || item.id !== id) return;
      $("explain-method").textContent = ev.method || "?";
      for (const t of ev.tokens.filter((t) => t.weight > 0).slice(0, 8)) {
        const li = el("li");
        li.appendChild(el("span", t.token));
        li.appendChild(el("span", "  " + (t.weight >= 0 ? "+" : "") + t.weight.toFixed(3), t.weight >= 0 ? "pos" : "neg"));
        li.appendChild(el("span", "  (" + t.field + ")", "muted"));
        list.appendChild(li);
      }
      const fields = item.fields || {};
      for (const name of Object.keys(fields)) {
        const spans = (ev.spans || []).filter((s) => s.field === name);
        if (!spans.length) continue;
        view.appendChild(el("div", name, "muted"));
        view.appendChild(highlighted(String(fields[name]), spans));
      }
      for (const n of ev.neighbours || []) {
        const who = n.kind === "label" ? "the path's own label" : "training row " + n.row;
        const said = n.text ? ": \u201c" + n.text + "\u201d" : "";
        near.appendChild(el("li", n.path.join(" > ") + "  (similarity " + n.similarity.toFixed(3) + ", " + who + said + ")"));
      }
      if (!(ev.neighbours || []).length) near.appendChild(el("li", "this model keeps no neighbour index", "muted"));
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
    // changed tags ride along with the decision; untouched ones are left as the store has them
    const tags = state.tagsDirty ? { tags: tagMap() } : {};
    if (isBest) return decide(Object.assign({ action: "accept" }, tags), "accepted");
    return decide(Object.assign({ action: "correct", path: path }, tags), "corrected to " + pathText(path));
  }

  // ---- tags: spans highlighted in the text, a table to accept / edit / remove / add -------------------------

  // Offsets are in characters (code points), as Python counts them: a JS string index counts UTF-16 units,
  // which differ from it after any character outside the BMP (emoji), so text is handled as Array.from(text).
  function chars(text) { return Array.from(text || ""); }

  // The text fields a span may point into, as the server checks them: every field but the id, with name and
  // description as the product has them.
  function productTexts(item) {
    const texts = {};
    for (const [k, v] of Object.entries(item.fields || {})) if (k !== "id") texts[k] = v === null || v === undefined ? "" : String(v);
    texts.name = item.name || "";
    texts.description = item.description || "";
    return texts;
  }

  function copyEntry(entry) {
    if (entry === null || typeof entry !== "object") return { value: entry === null || entry === undefined ? "" : String(entry) };
    const out = {};
    for (const k of ENTRY_KEYS.concat(["text", "source"])) if (entry[k] !== undefined && entry[k] !== null) out[k] = entry[k];
    out.value = out.value === undefined ? "" : String(out.value);
    return out;
  }

  // A span that lies inside its field's text (a stale or foreign one is neither shown nor sent back).
  function validSpan(entry) {
    if (typeof entry.field !== "string" || !Object.prototype.hasOwnProperty.call(state.texts, entry.field)) return false;
    const n = chars(state.texts[entry.field]).length;
    return Number.isInteger(entry.start) && Number.isInteger(entry.end) && entry.start >= 0 && entry.start < entry.end && entry.end <= n;
  }

  function colour(name) {
    let h = 0;
    for (const c of String(name)) h = (h * 31 + c.codePointAt(0)) >>> 0;
    return "tag-c" + (h % 8);
  }

  function tagLabel(name, entry) {
    return typeof entry.confidence === "number" ? name + " \u00b7 " + entry.confidence.toFixed(2) : name;
  }

  // The field's text into ``node`` as text nodes and one <mark> per stretch covered by spans: the cuts at every
  // span's start and end split the text into segments that each lie wholly inside or outside each span, so that
  // overlapping, nested and adjacent spans all show (the innermost span gives a segment its colour).
  function renderMarked(node, field, text) {
    clear(node);
    node.dataset.field = field;
    const cs = chars(text);
    const spans = state.tags.filter((t) => t.entry.field === field && validSpan(t.entry))
      .map((t) => ({ name: t.name, entry: t.entry, start: t.entry.start, end: t.entry.end }));
    const cuts = Array.from(new Set([0, cs.length].concat(...spans.map((sp) => [sp.start, sp.end])))).sort((a, b) => a - b);
    for (let i = 0; i + 1 < cuts.length; i++) {
      const a = cuts[i], b = cuts[i + 1];
      const piece = cs.slice(a, b).join("");
      const cover = spans.filter((sp) => sp.start <= a && sp.end >= b).sort((x, y) => (x.end - x.start) - (y.end - y.start));
      if (!cover.length) { node.appendChild(document.createTextNode(piece)); continue; }
      const mark = el("mark", piece, colour(cover[0].name));
      if (cover.length > 1) mark.classList.add("overlap");
      mark.title = cover.map((sp) => tagLabel(sp.name, sp.entry)).join("\n");
      mark.dataset.tag = cover[0].name;
      mark.dataset.tags = JSON.stringify(cover.map((sp) => sp.name));
      node.appendChild(mark);
    }
  }

  function renderTexts() {
    const item = current();
    if (!item) return;
    const name = $("item-name");
    if (item.name) renderMarked(name, "name", item.name);
    else { clear(name); delete name.dataset.field; name.textContent = "(no name)"; }
    renderMarked($("item-description"), "description", item.description || "");
    const dl = $("item-fields");
    clear(dl);
    for (const [k, v] of Object.entries(state.texts)) {
      if (k === "name" || k === "description" || !v) continue;
      dl.appendChild(el("dt", k));
      const dd = el("dd");
      renderMarked(dd, k, v);
      dl.appendChild(dd);
    }
  }

  function button(text, cls, onClick) {
    const b = el("button", text, cls);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function renderTags() {
    const body = $("tag-rows");
    clear(body);
    $("tags-empty").hidden = state.tags.length > 0;
    state.tags.forEach((tag, i) => {
      const e = tag.entry;
      const tr = el("tr", null, tag.status);
      tr.dataset.tag = tag.name;
      const attr = el("td", null, "attr");
      attr.appendChild(el("span", tag.name, colour(tag.name)));
      tr.appendChild(attr);
      const value = el("td", null, "value");
      value.appendChild(el("span", e.value, "tag-value"));
      if (validSpan(e)) value.appendChild(el("div", e.field + " [" + e.start + ", " + e.end + ")", "muted span"));
      tr.appendChild(value);
      tr.appendChild(el("td", typeof e.confidence === "number" ? e.confidence.toFixed(2) : "-", "confidence"));
      tr.appendChild(el("td", (e.decision || "-") + (tag.status === "model" ? "" : " \u2192 " + tag.status), "decision"));
      tr.appendChild(whyCell(tag));
      const actions = el("td", null, "tag-actions");
      const accept = button("accept", "tag-accept", () => { tag.status = "accepted"; changed(); });
      accept.disabled = tag.status !== "model";
      actions.appendChild(accept);
      actions.appendChild(button("edit value", "tag-edit", () => editValue(tag, value)));
      actions.appendChild(button("remove", "tag-remove", () => { state.tags.splice(i, 1); changed(); }));
      tr.appendChild(actions);
      body.appendChild(tr);
    });
  }

  // The words that decided a tag, as the server explained it: only while the value is the one explained.
  function whyCell(tag) {
    const td = el("td", null, "why");
    if (state.tagWhy === null) return td;
    const why = state.tagWhy[tag.name];
    if (!why || why.value !== tag.entry.value) { td.appendChild(el("span", "-", "muted")); return td; }
    for (const c of (why.context || []).slice(0, 3)) {
      const w = el("span", null, "why-word");
      w.appendChild(el("span", c.text));
      w.appendChild(el("span", " " + (c.weight >= 0 ? "+" : "") + c.weight.toFixed(2), c.weight >= 0 ? "pos" : "neg"));
      w.title = c.field + " [" + c.start + ", " + c.end + ")";
      td.appendChild(w);
    }
    if (!td.firstChild) td.appendChild(el("span", "no deciding word", "muted"));
    return td;
  }

  async function explainTags() {
    const item = current();
    if (!item) return;
    say("explaining the tags of " + item.id + " (a tagger run per context word)...");
    try {
      const ev = await api("GET", "/v1/review/evidence?tags=true&id=" + encodeURIComponent(item.id));
      if (current() !== item) return;
      state.tagWhy = ev.tags || {};
      renderTags();
      say(ev.tags ? "tags explained: " + item.id : "this model has no attribute or tag parts to explain");
    } catch (e) { say("could not explain the tags: " + e.message, true); }
  }

  function changed() {
    state.tagsDirty = true;
    renderTexts();
    renderTags();
  }

  function editValue(tag, cell) {
    clear(cell);
    const input = el("input", null, "tag-value-input");
    input.type = "text";
    input.value = tag.entry.value;
    input.setAttribute("aria-label", "value of " + tag.name);
    let done = false;
    const commit = () => {
      if (done) return;
      done = true;
      const v = input.value.trim();
      if (!v) { say("a tag needs a value (remove it instead)", true); renderTags(); return; }
      if (v !== tag.entry.value) {
        tag.entry.value = v;
        delete tag.entry.confidence;  // the model's probability was for its own value
        if (tag.status !== "added") tag.status = "edited";
      } else if (tag.status === "model") tag.status = "accepted";
      changed();
    };
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") { ev.preventDefault(); commit(); }
      else if (ev.key === "Escape") { ev.preventDefault(); ev.stopPropagation(); done = true; renderTags(); }
    });
    input.addEventListener("blur", commit);
    cell.appendChild(input);
    input.focus();
    input.select();
  }

  // The selection in one text field, as code-point offsets into it (leading/trailing white space left out).
  function fieldOf(node) {
    const elem = node && node.nodeType === Node.ELEMENT_NODE ? node : node && node.parentElement;
    const holder = elem && elem.closest("[data-field]");
    return holder && $("item").contains(holder) ? holder : null;
  }

  function readSelection() {
    const sel = window.getSelection();
    if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return;
    const range = sel.getRangeAt(0);
    const holder = fieldOf(range.startContainer);
    if (!holder || holder !== fieldOf(range.endContainer)) return;
    const field = holder.dataset.field;
    const text = state.texts[field];
    if (typeof text !== "string") return;
    const before = document.createRange();
    before.setStart(holder, 0);
    before.setEnd(range.startContainer, range.startOffset);
    let start = chars(before.toString()).length;
    let end = start + chars(range.toString()).length;
    const cs = chars(text);
    while (start < end && /\s/u.test(cs[start])) start++;
    while (end > start && /\s/u.test(cs[end - 1])) end--;
    if (start >= end || end > cs.length) return;
    state.selection = { field: field, start: start, end: end, text: cs.slice(start, end).join("") };
    $("selection-info").textContent = "selection: \u201c" + state.selection.text + "\u201d in " + field + " [" + start + ", " + end + ")";
  }

  function addTag(fromSelection) {
    const name = $("new-tag-name").value.trim();
    if (!name) { say("type the attribute's name first", true); $("new-tag-name").focus(); return; }
    const sel = fromSelection ? state.selection : null;
    if (fromSelection && !sel) { say("select the value in the product's text first", true); return; }
    const value = $("new-tag-value").value.trim() || (sel ? sel.text.trim() : "");
    if (!value) { say("type the value (or select it in the text)", true); $("new-tag-value").focus(); return; }
    const entry = { value: value, kind: "attribute" };
    if (sel) Object.assign(entry, { text: sel.text, field: sel.field, start: sel.start, end: sel.end });
    const old = state.tags.findIndex((t) => t.name === name);
    const tag = { name: name, entry: entry, status: "added" };
    if (old >= 0) state.tags.splice(old, 1, tag); else state.tags.push(tag);
    $("new-tag-name").value = "";
    $("new-tag-value").value = "";
    state.selection = null;
    $("selection-info").textContent = "";
    const s = window.getSelection();
    if (s) s.removeAllRanges();
    say("tag " + name + " " + (old >= 0 ? "replaced" : "added") + "; save to keep it");
    changed();
  }

  // The tags as the API takes them: known fields only, a span only when it is inside the text (the server
  // reads the span's text from the product and marks every entry as the reviewer's).
  function tagMap() {
    const out = {};
    for (const tag of state.tags) {
      const e = {};
      for (const k of ["value", "confidence", "decision", "kind"]) if (tag.entry[k] !== undefined) e[k] = tag.entry[k];
      if (validSpan(tag.entry)) Object.assign(e, { field: tag.entry.field, start: tag.entry.start, end: tag.entry.end });
      out[tag.name] = e;
    }
    return out;
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
    else if (ev.key === "t") { ev.preventDefault(); $("new-tag-name").focus(); }
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
    $("save-tags").addEventListener("click", () => decide({ action: "edit_tags", tags: tagMap() }, "tags saved"));
    $("add-tag").addEventListener("click", () => addTag(false));
    $("explain-tags").addEventListener("click", () => explainTags());
    $("show-explain").addEventListener("change", (ev) => { $("explain-view").classList.toggle("hidden", !ev.target.checked); });
    $("add-tag-selection").addEventListener("click", () => addTag(true));
    for (const id of ["new-tag-name", "new-tag-value"]) {
      $(id).addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); addTag(!!state.selection); } });
    }
    // remembered, since typing the attribute's name moves the focus and clears the page's selection
    document.addEventListener("selectionchange", readSelection);
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
