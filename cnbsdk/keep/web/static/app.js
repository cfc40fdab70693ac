// cnbsdk serve: the images page ("/") and the image page ("/images/NAME"). Plain JavaScript,
// no build step; it reads the JSON API under /api/v1 (docs/web.md) and nothing else.
"use strict";

const API = "/api/v1";
const REFRESH_MS = 2000;
const SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === "") continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function say(text, kind) {
  const box = document.getElementById("message");
  box.textContent = text;
  box.className = kind || "";
}

async function getJSON(url) {
  const answer = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await answer.json().catch(() => ({ error: answer.statusText }));
  if (!answer.ok) throw new Error(body.error || answer.statusText);
  return body;
}

// -- the trigger token and button (both pages) ---------------------------------------------

function setUpToken() {
  const input = document.getElementById("token");
  input.value = sessionStorage.getItem("cnbsdk-token") || "";
  input.addEventListener("input", () => sessionStorage.setItem("cnbsdk-token", input.value));
}

async function trigger(name) {
  const token = document.getElementById("token").value.trim();
  const headers = token ? { Authorization: "Bearer " + token } : {};
  try {
    const answer = await fetch(`${API}/images/${encodeURIComponent(name)}/trigger`, {
      method: "POST",
      headers,
    });
    const body = await answer.json().catch(() => ({ error: answer.statusText }));
    if (answer.status === 202) {
      say(`accepted: a TRIGGER build of ${name} was asked for (${body.triggerRequested})`, "ok");
    } else {
      const why = body.error || answer.statusText;
      say(why.startsWith("refused") ? why : `refused: ${why}`, "refused");
    }
  } catch (error) {
    say(`refused: ${error.message}`, "refused");
  }
}

// -- small renderers ----------------------------------------------------------------------

function badge(status, text) {
  return el("span", { class: `badge ${status}` }, text || status);
}

function vulnerabilities(counts) {
  if (!counts) return el("span", { class: "quiet" }, "not scanned");
  const parts = SEVERITIES.filter((level) => counts[level]).map((level) =>
    el("span", { class: level }, `${counts[level]} ${level.toLowerCase()}`),
  );
  return parts.length ? el("span", { class: "vulns" }, ...parts) : el("span", {}, "none known");
}

function shortDigest(digest) {
  return digest ? digest.replace(/^sha256:/, "").slice(0, 12) : "";
}

// "name@sha256:" and 12 hex digits of an image reference pinned by digest (the whole
// reference is the element's title); any other value as it is.
function shortRef(ref) {
  const at = ref ? ref.lastIndexOf("@sha256:") : -1;
  const text = at < 0 ? ref || "" : ref.slice(0, at + "@sha256:".length + 12);
  return el("span", { title: ref || "" }, text);
}

function shortValue(value) {
  if (value === null || value === undefined || value === "") return "(none)";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function seconds(from, to) {
  if (!from) return "";
  const start = Date.parse(from);
  const end = to ? Date.parse(to) : Date.now();
  if (Number.isNaN(start) || Number.isNaN(end)) return "";
  const total = Math.max(0, Math.round((end - start) / 1000));
  const text = total >= 60 ? `${Math.floor(total / 60)}m ${total % 60}s` : `${total}s`;
  return to ? text : `${text} so far`;
}

// -- the images page ----------------------------------------------------------------------

const imagesPage = {
  sort: "name",
  filter: "",
  last: "",

  start() {
    const params = new URLSearchParams(location.search);
    this.sort = params.get("sort") || "name";
    this.filter = params.get("status") || "";
    const select = document.getElementById("status-filter");
    select.value = this.filter;
    select.addEventListener("change", () => {
      this.filter = select.value;
      this.remember();
      this.refresh();
    });
    for (const th of document.querySelectorAll("#images th[data-sort]")) {
      th.addEventListener("click", () => {
        const key = th.dataset.sort;
        this.sort = this.sort === key ? `-${key}` : key;
        this.remember();
        this.refresh();
      });
    }
    document.querySelector("#images tbody").addEventListener("click", (event) => {
      const button = event.target.closest("button.trigger");
      if (button) trigger(button.dataset.image);
    });
    this.refresh();
    setInterval(() => this.refresh(), REFRESH_MS);
  },

  remember() {
    const params = new URLSearchParams();
    if (this.sort !== "name") params.set("sort", this.sort);
    if (this.filter) params.set("status", this.filter);
    const query = params.toString();
    history.replaceState(null, "", query ? `?${query}` : location.pathname);
  },

  async refresh() {
    const params = new URLSearchParams({ sort: this.sort });
    if (this.filter) params.set("status", this.filter);
    let images;
    try {
      images = await getJSON(`${API}/images?${params}`);
    } catch (error) {
      document.getElementById("updated").textContent = `not updated: ${error.message}`;
      return;
    }
    document.getElementById("updated").textContent =
      `updated ${new Date().toLocaleTimeString()}`;
    for (const th of document.querySelectorAll("#images th[data-sort]")) {
      const key = th.dataset.sort;
      if (this.sort === key) th.setAttribute("aria-sort", "ascending");
      else if (this.sort === `-${key}`) th.setAttribute("aria-sort", "descending");
      else th.removeAttribute("aria-sort");
    }
    const text = JSON.stringify(images);
    if (text === this.last) return; // nothing changed: keep the rows (and the focus)
    this.last = text;
    const body = document.querySelector("#images tbody");
    body.replaceChildren(...images.map((image) => this.row(image)));
    document.getElementById("empty").hidden = images.length > 0 || Boolean(this.filter);
  },

  row(image) {
    const link = el("a", { href: `/images/${encodeURIComponent(image.name)}` }, image.name);
    const status = el("td", {}, badge(image.status));
    if (image.message) status.append(el("div", { class: "quiet" }, image.message));
    const latest = el("td", { class: "mono" }, shortRef(image.latestImage));
    if (image.latestTag) latest.append(el("div", { class: "quiet" }, image.latestTag));
    if (image.latestKind) {
      latest.append(
        el("div", { class: `kind ${image.latestKind}` },
           image.latestKind === "rebase" ? "REBASE" : "REBUILD"),
      );
    }
    return el(
      "tr",
      { "data-image": image.name, "data-status": image.status },
      el("td", {}, link),
      status,
      latest,
      el("td", { class: "mono" }, image.builder || el("span", { class: "quiet" }, "default builder")),
      el("td", { class: "mono" }, shortRef(image.runImage)),
      el("td", {}, image.latestReason),
      el("td", {}, vulnerabilities(image.vulnerabilities)),
      el("td", {}, image.signed ? "signed" : el("span", { class: "quiet" }, "no")),
      el("td", {}, el("button", { class: "trigger", type: "button", "data-image": image.name },
                      "Trigger")),
    );
  },
};

// -- the image page -----------------------------------------------------------------------

const imagePage = {
  name: "",
  selected: null, // the build number shown
  pinned: false, // chosen by the user (?build=N or a click)
  builds: [],
  lastBuilds: "",
  stream: null,
  logFor: null, // the build number whose log is in <pre id="log">
  phaseCount: 0,

  start() {
    this.name = decodeURIComponent(location.pathname.split("/")[2] || "");
    document.getElementById("image-name").textContent = this.name;
    document.title = `${this.name} — cnbsdk serve`;
    const button = document.querySelector("button.trigger");
    button.dataset.image = this.name;
    button.addEventListener("click", () => trigger(this.name));
    const wanted = Number.parseInt(new URLSearchParams(location.search).get("build"), 10);
    this.selected = Number.isInteger(wanted) && wanted > 0 ? wanted : null;
    this.pinned = this.selected !== null; // else the newest build is followed as builds come
    document.querySelector("#builds tbody").addEventListener("click", (event) => {
      const row = event.target.closest("tr[data-build]");
      if (!row) return;
      event.preventDefault(); // the row's link too: no reload, the log shows below
      this.select(Number(row.dataset.build), true);
    });
    window.addEventListener("popstate", () => {
      const number = Number.parseInt(new URLSearchParams(location.search).get("build"), 10);
      if (Number.isInteger(number)) this.select(number, false);
    });
    this.refresh();
    setInterval(() => this.refresh(), REFRESH_MS);
  },

  async refresh() {
    const base = `${API}/images/${encodeURIComponent(this.name)}`;
    let image, builds;
    try {
      [image, builds] = await Promise.all([getJSON(base), getJSON(`${base}/builds`)]);
    } catch (error) {
      say(`not updated: ${error.message}`, "refused");
      return;
    }
    this.summary(image);
    this.builds = builds;
    const text = JSON.stringify(builds);
    if (text !== this.lastBuilds) {
      this.lastBuilds = text;
      this.renderBuilds();
      this.renderBuildpacks();
    } else {
      this.tickDurations();
    }
    if (!this.pinned && builds.length) this.selected = builds[builds.length - 1].number;
    if (this.selected !== null && this.logFor !== this.selected) this.showLog(this.selected);
    this.markSelected();
  },

  summary(image) {
    const rows = [
      ["Status", [badge(image.status), image.message ? ` ${image.message}` : ""]],
      ["Latest image", [image.latestImage || "(none yet)"]],
      ["Latest tag", [image.latestTag || ""]],
      ["Latest kind", [image.latestKind === "rebase" ? "REBASE" : image.latestKind ? "REBUILD" : ""]],
      ["Builder", [image.builder || "(the default builder)"]],
      ["Run image", [image.runImage || ""]],
      ["Source", [describeSource(image.spec.source)]],
      ["Vulnerabilities", [vulnerabilities(image.vulnerabilities)]],
      ["Signed", [image.signed ? "signed" : "no"]],
    ];
    const list = document.getElementById("summary");
    list.replaceChildren(...rows.flatMap(([key, values]) => [el("dt", {}, key), el("dd", {}, ...values)]));
  },

  renderBuilds() {
    const body = document.querySelector("#builds tbody");
    body.replaceChildren(...this.builds.slice().reverse().map((build) => this.row(build)));
  },

  row(build) {
    const reasons = el("td", {});
    for (const change of build.changes) {
      const line = el("span", { class: "change" }, el("strong", {}, change.reason), " ");
      if (change.message) line.append(`${change.message} `);
      line.append(el("span", { class: "old mono" }, shortValue(change.old)), " → ",
                  el("span", { class: "new mono" }, shortValue(change.new)));
      reasons.append(line);
    }
    const made = el("td", { class: "mono" });
    if (build.result.digest) made.append(el("div", { title: build.result.digest }, shortDigest(build.result.digest)));
    for (const tag of build.result.tags) made.append(el("div", { class: "quiet" }, tag));
    const status = el("td", {}, badge(build.status));
    if (build.statusMessage) status.append(el("div", { class: "quiet" }, build.statusMessage));
    return el(
      "tr",
      { "data-build": build.number, "data-kind": build.kind, "data-status": build.status },
      el("td", {}, el("a", { href: `?build=${build.number}` }, `#${build.number}`)),
      status,
      el("td", { class: `kind ${build.kind}` }, build.kind === "rebase" ? "REBASE" : "REBUILD"),
      reasons,
      el("td", { class: "started" },
         build.startedAt || el("span", { class: "quiet" }, `queued ${build.queuedAt}`)),
      el("td", { class: "duration" }, seconds(build.startedAt, build.finishedAt)),
      made,
    );
  },

  tickDurations() {
    for (const build of this.builds) {
      if (build.finishedAt || !build.startedAt) continue;
      const cell = document.querySelector(`#builds tr[data-build="${build.number}"] td.duration`);
      if (cell) cell.textContent = seconds(build.startedAt, "");
    }
  },

  renderBuildpacks() {
    const last = this.builds[this.builds.length - 1];
    const list = document.getElementById("buildpacks");
    if (!last) {
      list.replaceChildren(el("li", { class: "quiet" }, "no build yet"));
      return;
    }
    const used = last.result.buildpacks.length > 0;
    const buildpacks = used ? last.result.buildpacks : last.inputs.buildpacks;
    document.getElementById("buildpacks-title").textContent = used
      ? `Buildpacks of the last build (#${last.number})`
      : `Buildpacks in the builder of the last build (#${last.number})`;
    list.replaceChildren(...buildpacks.map((id) => el("li", { class: "mono" }, id)));
  },

  markSelected() {
    for (const row of document.querySelectorAll("#builds tbody tr")) {
      const on = Number(row.dataset.build) === this.selected;
      row.classList.toggle("selected", on);
      row.setAttribute("aria-selected", on ? "true" : "false");
    }
  },

  select(number, push) {
    if (push) history.pushState(null, "", `?build=${number}`);
    this.pinned = true;
    this.selected = number;
    this.markSelected();
    this.showLog(number);
  },

  showLog(number) {
    if (this.stream) {
      this.stream.close();
      this.stream = null;
    }
    this.logFor = number;
    this.phaseCount = 0;
    document.getElementById("log").replaceChildren();
    document.getElementById("phases").replaceChildren();
    document.getElementById("log-title").textContent = `Log of build #${number}`;
    const build = this.builds.find((b) => b.number === number);
    const url = `${API}/images/${encodeURIComponent(this.name)}/builds/${number}/log`;
    if (build && (build.status === "queued" || build.status === "building")) {
      this.follow(number, `${url}/stream`);
    } else {
      fetch(url)
        .then((answer) => (answer.ok ? answer.text() : answer.json().then((b) => Promise.reject(new Error(b.error)))))
        .then((text) => { if (this.logFor === number) this.append(text); })
        .catch((error) => say(`no log: ${error.message}`, "refused"));
    }
  },

  follow(number, url) {
    const stream = new EventSource(url);
    this.stream = stream;
    const pre = document.getElementById("log");
    pre.setAttribute("aria-busy", "true");
    stream.addEventListener("log", (event) => {
      if (this.logFor === number) this.append(`${event.data}\n`);
    });
    stream.addEventListener("end", () => {
      stream.close();
      if (this.stream === stream) this.stream = null;
      pre.removeAttribute("aria-busy");
      pre.dataset.ended = "true";
      this.refresh();
    });
  },

  // Log text in, phase headers ("===> DETECTING") wrapped and listed in <nav id="phases">.
  append(text) {
    const pre = document.getElementById("log");
    const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
    const nav = document.getElementById("phases");
    let plain = "";
    for (const line of text.split(/(?<=\n)/)) {
      const match = /^===> (.+?)\s*$/.exec(line);
      if (!match) {
        plain += line;
        continue;
      }
      if (plain) pre.append(plain);
      plain = "";
      this.phaseCount += 1;
      const id = `phase-${this.phaseCount}`;
      pre.append(el("span", { class: "phase", id }, line.replace(/\n$/, "")), "\n");
      nav.append(el("a", { href: `#${id}` }, match[1]));
    }
    if (plain) pre.append(plain);
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  },
};

function describeSource(source) {
  if (!source) return "";
  const where = source.kind === "git" ? `git ${source.url} @ ${source.revision}` : `${source.kind} ${source.url}`;
  return source.sub_path ? `${where} (sub-path ${source.sub_path})` : where;
}

document.addEventListener("DOMContentLoaded", () => {
  setUpToken();
  if (document.body.dataset.page === "images") imagesPage.start();
  else imagePage.start();
});
