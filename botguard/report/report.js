// botguard report: the client table (sort, filter, pages), printing, and the live view.
// Runs under a strict Content-Security-Policy: no eval, no inline handlers, and every text from
// the log is put into the page with textContent (never as markup).
"use strict";
(function () {
  const PAGE = 50;

  function readJson(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  async function unpack(block) {
    if (!block || block.encoding !== "gzip+base64") return block;
    const binary = atob(block.data);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function cssName(value) {
    return String(value).toLowerCase().replace(/[^a-z0-9]/g, "") || "other";
  }

  function time(seconds) {
    if (seconds === null || seconds === undefined) return "";
    return new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ");
  }

  // ------------------------------------------------------------------ client table
  function ClientTable(table) {
    const rows = table.rows, data = table.data, dicts = table.dicts;
    const columns = table.columns;
    const order = new Uint32Array(rows);
    for (let i = 0; i < rows; i++) order[i] = i;
    let shown = order, page = 0, sortKey = null, sortDir = 1;

    const lower = {};
    for (const key of Object.keys(dicts)) lower[key] = dicts[key].map((t) => t.toLowerCase());

    const body = document.querySelector("#bg-clients-table tbody");
    const headRow = document.querySelector("#bg-clients-table thead tr");
    const filter = document.getElementById("bg-filter");
    const verdictSel = document.getElementById("bg-verdict");
    const kindSel = document.getElementById("bg-kind");
    const count = document.getElementById("bg-count");
    const pageInfo = document.getElementById("bg-page");
    const prev = document.getElementById("bg-prev");
    const next = document.getElementById("bg-next");

    function cell(col, i) {
      const key = col.key, value = data[key] ? data[key][i] : null;
      switch (col.type) {
        case "verdict": {
          const td = el("td");
          td.appendChild(el("span", dicts.verdict[value], "badge v-" + cssName(dicts.verdict[value])));
          return td;
        }
        case "agent": {
          const td = el("td", dicts.client[value], "c");
          td.title = dicts.agent[data.agent[i]];
          return td;
        }
        case "code": return el("td", dicts[key][value], key === "why" ? "w" : "");
        case "number": return el("td", value === null ? "" : value.toLocaleString("en"), "n");
        case "fraction": return el("td", value === null ? "" : value.toFixed(2), "n");
        case "time": return el("td", time(value));
        case "asn": {
          const org = dicts.org[data.org[i]];
          return el("td", value === null ? "" : "AS" + value + (org ? " " + org : ""));
        }
        default: return el("td", value);
      }
    }

    function draw() {
      const pages = Math.max(1, Math.ceil(shown.length / PAGE));
      page = Math.min(Math.max(page, 0), pages - 1);
      const start = page * PAGE, end = Math.min(shown.length, start + PAGE);
      const fragment = document.createDocumentFragment();
      for (let r = start; r < end; r++) {
        const i = shown[r], tr = el("tr");
        for (const col of columns) tr.appendChild(cell(col, i));
        fragment.appendChild(tr);
      }
      body.replaceChildren(fragment);
      count.textContent = shown.length.toLocaleString("en") + " of " + rows.toLocaleString("en") + " clients";
      pageInfo.textContent = shown.length ? "rows " + (start + 1).toLocaleString("en") + "\u2013" +
        end.toLocaleString("en") + " (page " + (page + 1) + " of " + pages + ")" : "no client matches";
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1;
      table.element.dataset.shown = String(shown.length);
    }

    function compare(key, type) {
      const values = data[key];
      if (type === "code" || type === "verdict" || type === "agent") {
        const dict = type === "agent" ? lower.client : lower[key];
        const codes = type === "agent" ? data.client : values;
        if (type === "verdict") return (a, b) => codes[a] - codes[b];
        return (a, b) => (dict[codes[a]] < dict[codes[b]] ? -1 : dict[codes[a]] > dict[codes[b]] ? 1 : 0);
      }
      if (type === "text") return (a, b) => (values[a] < values[b] ? -1 : values[a] > values[b] ? 1 : 0);
      return (a, b) => {
        const x = values[a], y = values[b];
        if (x === y) return 0;
        if (x === null) return 1;
        if (y === null) return -1;
        return x - y;
      };
    }

    function apply() {
      const q = filter.value.trim().toLowerCase();
      const v = verdictSel.value, k = kindSel.value;
      const vCode = v === "" ? -1 : dicts.verdict.indexOf(v);
      const kCode = k === "" ? -1 : dicts.kind.indexOf(k);
      const hit = (key, i) => lower[key][data[key][i]].includes(q);
      const out = [];
      for (let i = 0; i < rows; i++) {
        if (vCode >= 0 && data.verdict[i] !== vCode) continue;
        if (kCode >= 0 && data.kind[i] !== kCode) continue;
        if (q && !(data.ip[i].toLowerCase().includes(q) || hit("client", i) || hit("agent", i) ||
                   hit("org", i) || hit("why", i) || hit("identity", i) ||
                   (data.asn[i] !== null && ("as" + data.asn[i]).includes(q)))) continue;
        out.push(i);
      }
      if (sortKey !== null) {
        const col = columns.find((c) => c.key === sortKey);
        const cmp = compare(sortKey, col.type);
        out.sort((a, b) => cmp(a, b) * sortDir || a - b);
      }
      shown = out;
      page = 0;
      draw();
    }

    for (const col of columns) {
      const th = el("th");
      const button = el("button", col.title);
      button.type = "button";
      button.addEventListener("click", () => {
        if (sortKey === col.key) sortDir = -sortDir;
        else { sortKey = col.key; sortDir = col.type === "number" || col.type === "verdict" ? -1 : 1; }
        for (const other of headRow.children) other.removeAttribute("aria-sort");
        th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
        apply();
      });
      th.appendChild(button);
      headRow.appendChild(th);
    }
    let timer = null;
    filter.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(apply, 120); });
    verdictSel.addEventListener("change", apply);
    kindSel.addEventListener("change", apply);
    prev.addEventListener("click", () => { page -= 1; draw(); });
    next.addEventListener("click", () => { page += 1; draw(); });
    draw();
  }

  async function clients() {
    const element = document.getElementById("bg-clients-table");
    if (!element) return;
    try {
      const table = await unpack(readJson("bg-clients"));
      table.element = element;
      ClientTable(table);
      element.dataset.ready = "1";
    } catch (error) {
      const note = el("p", "The client table could not be unpacked in this browser (" + error + "); " +
                      "botguard scan --format csv lists every client.", "warning");
      element.replaceWith(note);
    }
  }

  // ------------------------------------------------------------------ printing
  window.addEventListener("beforeprint", () => {
    for (const d of document.querySelectorAll("details")) { d.dataset.wasOpen = d.open ? "1" : ""; d.open = true; }
  });
  window.addEventListener("afterprint", () => {
    for (const d of document.querySelectorAll("details")) d.open = d.dataset.wasOpen === "1";
  });

  // ------------------------------------------------------------------ live view
  function live(settings) {
    const section = document.getElementById("live");
    if (!section || !settings) return;
    section.hidden = false;
    const stamp = document.getElementById("bg-live-stamp");
    const now = document.querySelector("#bg-live-now tbody");
    const rates = document.querySelector("#bg-live-rates tbody");
    const cands = document.querySelector("#bg-live-candidates tbody");
    const status = document.getElementById("bg-live-status");

    function review(signature, verdict) {
      status.textContent = verdict + " " + signature + "\u2026";
      fetch(settings.review.replace("{review}", verdict), {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: {"Content-Type": "application/json", "X-Botguard-CSRF": settings.csrf},
        body: JSON.stringify({signatures: [signature]}),
      }).then((r) => r.json().then((body) => {
        status.textContent = r.ok ? verdict + "d " + signature : "refused: " + (body.error || r.status);
      })).catch((e) => { status.textContent = "failed: " + e; });
    }

    function fill(tbody, items, cells) {
      const fragment = document.createDocumentFragment();
      for (const item of items) {
        const tr = el("tr");
        for (const c of cells(item)) tr.appendChild(c instanceof Node ? c : el("td", c));
        fragment.appendChild(tr);
      }
      tbody.replaceChildren(fragment);
    }

    function update(event) {
      const state = JSON.parse(event.data);
      stamp.textContent = "updated " + state.now + " UTC; " + state.lines.toLocaleString("en") +
        " lines followed, last " + state.window + " s shown";
      section.dataset.lines = String(state.lines);
      fill(now, state.clients, (c) => [c.ip, c.who, c.requests.toLocaleString("en")]);
      fill(rates, state.operators, (o) => [o.operator, o.per_minute.toFixed(1)]);
      fill(cands, state.candidates, (c) => {
        const td = el("td");
        for (const verdict of ["approve", "reject"]) {
          const b = el("button", verdict);
          b.type = "button";
          b.dataset.signature = c.signature;
          b.addEventListener("click", () => review(c.signature, verdict));
          td.appendChild(b);
        }
        return [c.signature, c.rule, c.status, c.support_requests.toLocaleString("en"), td];
      });
    }

    const source = new EventSource(settings.events);
    source.addEventListener("state", update);
    source.addEventListener("error", () => { stamp.textContent = "disconnected; retrying\u2026"; });
  }

  const page = readJson("bg-page-data") || {};
  live(page.live);
  clients();
})();
