// stylekit's page: choose images and a method, post a job, poll it, show previews and results.
// Plain JavaScript, no libraries; everything comes from this server (see /api/* in app.py).
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const NOTES = {
  optimize: "Gatys et al.: L-BFGS shapes the pixels themselves. Slow, best quality; the picture forms as you watch.",
  fast: "A network trained once for one painting: any photo in one pass, about a second.",
  adain: "Any painting in one pass (whitening and colouring of VGG features, or AdaIN). Several paintings blend by the weights below.",
  texture: "A texture network turns noise into a new texture for every seed.",
};
const POLL_MS = 250;
const state = { content: null, styles: [], jobs: new Map(), selected: null, options: null, models: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k in node) node[k] = v; else node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}
const method = () => $("input[name=method]:checked").value;
const panel = () => $(`fieldset[data-method=${method()}]`);
const part = () => Number($("select[name=part]").value);
const usesContent = () => method() === "fast" || method() === "adain" || (method() === "optimize" && part() !== 2);
const usesStyles = () => method() === "adain" || (method() === "optimize" && part() !== 1);
const pretty = (name) => name.replace(/^upload:/, "").replace(/\.[a-z0-9]+$/i, "").replace(/_/g, " ");
const fmt = (v) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(2) : v.toPrecision(3));

// ---- images: bundled tiles, uploads, selection ------------------------------------------

function addTile(kind, image, select) {
  const tiles = $(`#${kind}-tiles`);
  const tile = el("button", { type: "button", class: "tile", title: pretty(image.name) },
    el("img", { src: image.url, alt: pretty(image.name) }), el("span", { class: "name" }, pretty(image.name)));
  tile.image = image;
  tile.addEventListener("click", (e) => choose(kind, tile, !(e.shiftKey || e.ctrlKey || e.metaKey)));
  tiles.insertBefore(tile, $(".upload", tiles));
  if (select) choose(kind, tile, !$("#blend-several").checked);
}

// A click picks one painting; with "blend several" ticked (or Shift/Ctrl held) it adds or removes one.
function choose(kind, tile, only = true) {
  if (kind === "content") {
    $$("#content-tiles .tile").forEach((t) => t.classList.toggle("selected", t === tile));
    state.content = tile.image;
    return;
  }
  const multi = (method() === "adain" || method() === "optimize") && (!only || $("#blend-several").checked);
  const chosen = state.styles.includes(tile.image);
  if (!multi) state.styles = [tile.image];
  else if (chosen && state.styles.length > 1) state.styles = state.styles.filter((s) => s !== tile.image);
  else if (!chosen) state.styles = [...state.styles, tile.image];
  $$("#style-tiles .tile").forEach((t) => t.classList.toggle("selected", state.styles.includes(t.image)));
  drawBlend();
}

function drawBlend() {
  const box = $("#blend");
  box.replaceChildren();
  if (state.styles.length < 2 || !usesStyles()) return;
  for (const image of state.styles) {
    image.weight = image.weight ?? 1;
    const out = el("output", {}, image.weight.toFixed(2));
    const range = el("input", { type: "range", min: "0", max: "1", step: "0.05", value: String(image.weight) });
    range.addEventListener("input", () => { image.weight = Number(range.value); out.value = image.weight.toFixed(2); });
    box.append(el("label", {}, el("span", {}, pretty(image.name)), range, out));
  }
}

function upload(kind, file) {
  if (!file) return;
  if (!file.type.startsWith("image/") && !/\.(png|jpe?g|gif|bmp|webp|tiff?)$/i.test(file.name)) {
    showError(`${file.name} does not look like an image`);
    return;
  }
  showError("");
  addTile(kind, { source: "upload", name: `upload:${file.name}`, file, url: URL.createObjectURL(file) }, true);
}

function wireUploads() {
  for (const kind of ["content", "style"]) {
    const input = $(`#${kind}-file`);
    input.addEventListener("change", () => { [...input.files].forEach((f) => upload(kind, f)); input.value = ""; });
    const zone = $(`#${kind}-section`);
    zone.addEventListener("dragover", (e) => { e.preventDefault(); $(`#${kind}-tiles`).classList.add("dragover"); });
    zone.addEventListener("dragleave", () => $(`#${kind}-tiles`).classList.remove("dragover"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      $(`#${kind}-tiles`).classList.remove("dragover");
      [...e.dataTransfer.files].forEach((f) => upload(kind, f));
    });
  }
}

// ---- the form -----------------------------------------------------------------------------

function setField(fieldset, name, value) {
  const input = $(`[name=${name}]`, fieldset);
  if (!input || value === undefined || value === null) return;
  input.value = typeof value === "number" && name === "style_weight" ? String(value) : value;
  const out = $(`output[data-for=${name}]`, fieldset);
  if (out) out.value = input.value + (name === "size" ? " px" : "");
}

function fillDefaults() {
  const o = state.options, limits = o.limits;
  for (const range of $$("input[type=range][name=size]")) { range.min = 64; range.max = limits.max_size; }
  $("input[name=steps]").max = limits.max_steps;
  $("input[name=sharpen]").max = o.adain.max_sharpen;
  const preset = o.optimize[`part${part()}`];
  const opt = $("fieldset[data-method=optimize]");
  for (const name of ["size", "steps", "style_weight", "seed"]) setField(opt, name, preset[name]);
  setField($("fieldset[data-method=adain]"), "size", o.adain.size);
  setField($("fieldset[data-method=fast]"), "size", Math.min(512, limits.max_size));
  setField($("fieldset[data-method=texture]"), "size", o.texture.size);
  setField($("fieldset[data-method=texture]"), "seed", o.texture.seed);
  for (const select of $$("select[data-models]")) {
    const kind = select.dataset.models;
    select.replaceChildren(...state.models[kind].map((m) =>
      el("option", { value: m.name }, (m.title || pretty(m.name)) + (m.steps ? ` · ${m.steps} steps` : ""))));
    select.closest("label").hidden = kind === "adain" && state.models[kind].length < 2;
  }
  adainDefaults();
}

// Each one-pass method has its own default alpha (WCT's is lower than AdaIN's) and sharpening
// (WCT's alone: the server refuses it for AdaIN): follow the decoder chosen.
function adainDefaults() {
  const fieldset = $("fieldset[data-method=adain]");
  const chosen = state.models.adain.find((m) => m.name === $("select[name=model]", fieldset).value);
  const defaults = (chosen && state.options.adain.methods[chosen.method]) || state.options.adain;
  setField(fieldset, "alpha", defaults.alpha);
  setField(fieldset, "sharpen", defaults.sharpen);
  $("[data-wct]", fieldset).hidden = Boolean(chosen && chosen.method === "adain");
}

function syncMethod() {
  const m = method();
  $$("fieldset.options").forEach((f) => { f.hidden = f.dataset.method !== m; });
  // A part's rows only: the server refuses a field the part would ignore (part 3 starts from the photo, no seed).
  $$("[data-parts]").forEach((row) => { row.hidden = !row.dataset.parts.split(" ").includes(String(part())); });
  $("#method-note").textContent = NOTES[m];
  $("#content-section").classList.toggle("unused", !usesContent());
  $("#style-section").classList.toggle("unused", !usesStyles());
  $("#style-section").classList.toggle("multi", usesStyles());
  if (!usesStyles() || m === "fast") state.styles = state.styles.slice(0, 1);
  $$("#style-tiles .tile").forEach((t) => t.classList.toggle("selected", state.styles.includes(t.image)));
  drawBlend();
}

function formData() {
  const m = method(), data = new FormData();
  data.append("method", m);
  const add = (field, image) => (image.source === "upload" ? data.append(field, image.file, image.file.name)
    : data.append(field, image.name));
  if (usesContent()) {
    if (!state.content) throw new Error("choose a photo first");
    add("content", state.content);
  }
  if (usesStyles()) {
    if (!state.styles.length) throw new Error("choose a painting first");
    state.styles.forEach((s) => add("style", s));
    if (state.styles.length > 1) data.append("style_blend", state.styles.map((s) => s.weight ?? 1).join(","));
  }
  for (const input of $$("[name]", panel())) {
    if (input.closest("[data-parts], [data-wct]")?.hidden) continue;
    if (input.value !== "" && !(m === "optimize" && input.name === "part" && input.value === "3")) {
      data.append(input.name, input.value);
    }
  }
  return data;
}

function label(m) {
  const names = [];
  if (usesContent() && state.content) names.push(pretty(state.content.name));
  if (usesStyles()) names.push(state.styles.map((s) => pretty(s.name)).join(" + "));
  if (m === "fast" || m === "texture") names.push(pretty($("[name=model]", panel()).value));
  const title = { optimize: `Part ${part()}`, fast: "Trained network", adain: "Any painting", texture: "Texture" }[m];
  return `${title} · ${names.join(" × ")}`;
}

async function submit(event) {
  event.preventDefault();
  showError("");
  let data;
  try { data = formData(); } catch (e) { showError(e.message); return; }
  const started = performance.now();
  const response = await fetch("/api/jobs", { method: "POST", body: data });
  const body = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
  if (response.status !== 202) { showError(body.error || `the server answered ${response.status}`); return; }
  const job = { id: body.id, method: method(), label: label(method()), status: "queued", progress: 0, version: 0, started,
    firstPreview: null, finishedAt: null, url: null, sidecarUrl: null };
  state.jobs.set(job.id, job);
  addCard(job);
  select(job.id);
}

function showError(text) { $("#form-error").textContent = text; }

// ---- jobs: polling, the stage, the strip ----------------------------------------------------

function addCard(job) {
  const strip = $("#strip");
  $("p", strip)?.remove();
  job.card = el("button", { type: "button", class: "card", title: job.label },
    el("div", { class: "thumb" }, el("span", { class: "muted" }, "…")), el("div", { class: "mini" }),
    el("div", { class: "label" }, job.label));
  job.card.dataset.job = job.id;
  job.card.addEventListener("click", () => select(job.id));
  strip.prepend(job.card);
}

function select(id) {
  state.selected = id;
  $$(".card").forEach((c) => c.classList.toggle("selected", c.dataset.job === id));
  const job = state.jobs.get(id);
  if (job.url) showImage(job.url);
  else if (!job.preview) { $("#picture-img").hidden = true; $("#picture-empty").hidden = false; }
  else showImage(job.preview);
  draw(job);
}

function showImage(url) {
  const img = $("#picture-img");
  img.src = url;
  img.hidden = false;
  $("#picture-empty").hidden = true;
}

async function fetchBlobUrl(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) return null;
  return URL.createObjectURL(await response.blob());
}

function draw(job) {
  if (state.selected !== job.id) return;
  $("#job-title").textContent = job.label;
  const pill = $("#job-status");
  pill.hidden = false;
  pill.textContent = job.status;
  pill.className = `pill ${job.status}`;
  $("#progress").hidden = false;
  $("#progress-bar").style.width = `${Math.round(job.progress * 1000) / 10}%`;
  $("#job-detail").textContent = detail(job);
  $("#cancel").hidden = !(job.status === "queued" || job.status === "running");
  for (const [id, url, ext] of [["#download-png", job.url, "png"], ["#download-json", job.sidecarUrl, "json"]]) {
    const a = $(id);
    a.hidden = !url;
    if (url) { a.href = url; a.download = `stylekit-${job.id}.${ext}`; }
  }
}

function detail(job) {
  const secs = (t) => `${((t - job.started) / 1000).toFixed(1)} s`;
  if (job.status === "queued") {
    if (job.position === null || job.position === undefined) return "starting…";
    return job.position ? `waiting: ${job.position} job${job.position > 1 ? "s" : ""} ahead in the queue`
      : job.method === "optimize" ? "next in line: one optimization runs at a time" : "next in line";
  }
  if (job.status === "failed") return job.error || "failed";
  const parts = [];
  if (job.steps) parts.push(`step ${job.step} of ${job.steps}`);
  for (const [k, v] of Object.entries(job.losses || {})) if (k !== "total") parts.push(`${k} ${fmt(v)}`);
  if (job.firstPreview && job.steps) parts.push(`first preview after ${secs(job.firstPreview)}`);
  if (job.finishedAt) parts.push(`${job.status === "cancelled" ? "stopped" : "done"} after ${secs(job.finishedAt)}`);
  return parts.join(" · ") || "running…";
}

async function poll(job) {
  const response = await fetch(`/api/jobs/${job.id}`, { cache: "no-store" });
  if (!response.ok) { job.status = "failed"; job.error = "the server no longer has this job"; return; }
  const s = await response.json();
  Object.assign(job, { status: s.status, progress: s.progress, step: s.step, steps: s.steps, losses: s.losses,
    position: s.queue_position, error: s.error });
  const finished = ["done", "failed", "cancelled"].includes(s.status);
  if (s.has_image && s.image_version !== job.version) {
    job.version = s.image_version;
    const url = await fetchBlobUrl(`/api/jobs/${job.id}/image`);
    if (url) {
      if (job.preview && job.preview !== job.url) URL.revokeObjectURL(job.preview);
      job.preview = url;
      job.firstPreview = job.firstPreview || performance.now();
      $("img", job.card)?.remove();
      $(".thumb", job.card).replaceChildren(el("img", { src: url, alt: "" }));
      if (state.selected === job.id) showImage(url);
    }
  }
  if (finished) {
    job.finishedAt = performance.now();
    if (s.has_image) job.url = job.preview;
    if (s.has_sidecar) job.sidecarUrl = await fetchBlobUrl(`/api/jobs/${job.id}/sidecar`);
    job.card.classList.toggle("failed", s.status === "failed");
    if (s.status === "failed") $(".thumb", job.card).replaceChildren(el("span", { class: "muted" }, "failed"));
  }
  $(".mini", job.card).style.width = `${job.progress * 100}%`;
  draw(job);
}

async function pollAll() {
  const active = [...state.jobs.values()].filter((j) => j.status === "queued" || j.status === "running");
  await Promise.all(active.map((j) => poll(j).catch(() => {})));
  setTimeout(pollAll, POLL_MS);
}

async function cancel() {
  const job = state.jobs.get(state.selected);
  if (!job) return;
  $("#cancel").disabled = true;
  await fetch(`/api/jobs/${job.id}`, { method: "DELETE" }).catch(() => {});
  $("#cancel").disabled = false;
}

// ---- start ----------------------------------------------------------------------------------

async function start() {
  const [images, options, models] = await Promise.all(
    ["/api/images", "/api/options", "/api/models"].map((p) => fetch(p).then((r) => r.json())));
  state.options = options;
  state.models = models;
  for (const kind of ["content", "style"]) {
    const wanted = kind === "content" ? "chelsea.jpg" : "starry_night.jpg";
    for (const name of images[kind]) {
      addTile(kind, { source: "bundled", name, url: `/api/images/${kind}/${encodeURIComponent(name)}?thumb=true` },
        name === wanted || (!images[kind].includes(wanted) && name === images[kind][0]));
    }
  }
  fillDefaults();
  const mb = options.limits.upload_bytes / 2 ** 20;
  $("#server-note").textContent = `uploads up to ${mb} MB · outputs up to ${options.limits.max_size} px`;
  $$("input[name=method]").forEach((r) => r.addEventListener("change", syncMethod));
  $("select[name=part]").addEventListener("change", () => { fillDefaults(); syncMethod(); });
  $("select[data-models=adain]").addEventListener("change", adainDefaults);
  for (const range of $$("input[type=range]")) {
    range.addEventListener("input", () => setField(range.closest("fieldset"), range.name, range.value));
  }
  $("#new-seed").addEventListener("click", () => {
    setField($("fieldset[data-method=texture]"), "seed", Math.floor(Math.random() * 1e6));
  });
  $("#blend-several").addEventListener("change", () => {
    if (!$("#blend-several").checked) state.styles = state.styles.slice(-1);
    syncMethod();
  });
  $("#cancel").addEventListener("click", cancel);
  $("#job-form").addEventListener("submit", submit);
  wireUploads();
  syncMethod();
  pollAll();
}

start().catch((e) => showError(`the page could not start: ${e.message}`));
