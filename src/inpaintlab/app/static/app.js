// inpaintlab-app's page: photo + brush layer → POST /api/fill → poll /api/jobs/<id> → result, compare, download.
// The brush layer is a canvas of the photo's own size; the server reads every painted pixel (alpha > 0) as hole.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { models: [], photo: null, photoName: "photo", width: 0, height: 0, resultUrl: null, busy: false };

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}
function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}
function status(text, { spin = false, progress = null } = {}) {
  $("status-text").textContent = text;
  $("spinner").hidden = !spin;
  const bar = $("progress");
  bar.hidden = progress === null;
  if (progress !== null) {
    bar.max = progress[1];
    bar.value = progress[0];
  }
}

// One sentence from a failed response: the server's {"error": ...}, or the HTTP status.
async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (e) { /* not JSON */ }
  return `the server answered ${response.status} ${response.statusText}`.trim();
}

// ------------------------------------------------------------------ models and their options
async function loadModels() {
  const response = await fetch("/api/models");
  if (!response.ok) { showError(await errorOf(response)); return; }
  const info = await response.json();
  state.models = info.models;
  $("max-side").textContent = info.max_side;
  const select = $("model");
  select.innerHTML = "";
  for (const m of info.models) {
    const opt = document.createElement("option");
    opt.value = m.id;
    opt.textContent = m.label;
    select.appendChild(opt);
  }
  $("model-picker").hidden = info.models.length < 2;
  $("model-name").textContent = info.models.length === 1 ? info.models[0].label : "";
  renderOptions();
}

function currentModel() {
  return state.models.find((m) => m.id === $("model").value) || state.models[0];
}

function renderOptions() {
  const box = $("options");
  box.innerHTML = "";
  const model = currentModel();
  if (!model) return;
  for (const o of model.options) {
    const label = document.createElement("label");
    label.title = o.help;
    const input = document.createElement("input");
    input.dataset.option = o.name;
    input.dataset.kind = o.kind;
    if (o.kind === "bool") {
      input.type = "checkbox";
      input.checked = !!o.value;
      label.append(input, " " + o.name);
    } else {
      input.type = o.kind === "text" ? "text" : "number";
      if (o.kind === "int") input.step = "1";
      if (o.kind === "float") input.step = "any";
      input.value = o.value === null ? "" : String(o.value);
      label.append(o.name + " ", input);
    }
    input.dataset.initial = o.kind === "bool" ? String(!!o.value) : input.value;
    box.appendChild(label);
  }
}

// The options the user changed, typed as the adapter expects (a number that does not parse goes as text, and
// the server says what is wrong with it).
function changedOptions() {
  const out = {};
  for (const input of $("options").querySelectorAll("input[data-option]")) {
    const kind = input.dataset.kind;
    const now = kind === "bool" ? String(input.checked) : input.value;
    if (now === input.dataset.initial) continue;
    let value = now;
    if (kind === "bool") value = input.checked;
    else if (kind === "int" || kind === "float") {
      const n = Number(now);
      value = now.trim() !== "" && Number.isFinite(n) ? n : now;
    } else if (now === "") value = null;
    out[input.dataset.option] = value;
  }
  return out;
}

// ------------------------------------------------------------------ photo, mask and brush
async function loadPhoto(file) {
  clearError();
  const form = new FormData();
  form.append("file", file);
  status("Reading the photo…", { spin: true });
  const response = await fetch("/api/image", { method: "POST", body: form });
  if (!response.ok) {
    showError(await errorOf(response));
    status(state.photo ? "The previous photo is kept." : "Choose a photo to begin.");
    return;
  }
  const width = Number(response.headers.get("X-Image-Width"));
  const height = Number(response.headers.get("X-Image-Height"));
  const url = URL.createObjectURL(await response.blob());
  await new Promise((resolve, reject) => {
    $("photo").onload = resolve;
    $("photo").onerror = reject;
    $("photo").src = url;
  });
  $("before").src = url;
  state.photo = file;
  $("photo-name").textContent = file.name;
  state.photoName = file.name.replace(/\.[^.]*$/, "") || "photo";
  state.width = width;
  state.height = height;
  const canvas = $("brush");
  canvas.width = width;
  canvas.height = height;
  $("stage").hidden = false;
  $("compare").hidden = true;
  $("result-controls").hidden = true;
  $("fill").disabled = false;
  $("result").removeAttribute("src");
  $("result").dataset.state = "";
  status(`Photo ${width}×${height}: paint the hole, then press Fill.`);
}

async function loadMask(file) {
  clearError();
  if (!state.photo) { showError("choose a photo before its mask"); return; }
  const form = new FormData();
  form.append("mask", file);
  form.append("width", state.width);
  form.append("height", state.height);
  const response = await fetch("/api/mask", { method: "POST", body: form });
  if (!response.ok) { showError(await errorOf(response)); return; }
  const layer = await createImageBitmap(await response.blob());
  const ctx = $("brush").getContext("2d");
  ctx.clearRect(0, 0, state.width, state.height);
  ctx.globalCompositeOperation = "source-over";
  ctx.drawImage(layer, 0, 0);
  status(`Mask ${file.name} loaded into the brush layer: edit it with the brush or eraser, then press Fill.`);
}

const pen = { down: false, x: 0, y: 0 };
function canvasPoint(event) {
  const canvas = $("brush");
  const rect = canvas.getBoundingClientRect();
  const sx = canvas.width / rect.width;
  const sy = canvas.height / rect.height;
  return { x: (event.clientX - rect.left) * sx, y: (event.clientY - rect.top) * sy, scale: sx };
}
function stroke(from, to) {
  const ctx = $("brush").getContext("2d");
  const eraser = $("tool-eraser").checked;
  ctx.globalCompositeOperation = eraser ? "destination-out" : "source-over";
  ctx.strokeStyle = "rgb(255, 40, 90)";
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.lineWidth = Number($("brush-size").value) * to.scale; // the slider is in screen pixels
  ctx.beginPath();
  ctx.moveTo(from.x, from.y);
  ctx.lineTo(to.x, to.y);
  ctx.stroke();
}
function setupBrush() {
  const canvas = $("brush");
  canvas.addEventListener("pointerdown", (e) => {
    if (!state.photo) return;
    canvas.setPointerCapture(e.pointerId);
    pen.down = true;
    const p = canvasPoint(e);
    stroke(p, p);
    pen.last = p;
    e.preventDefault();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!pen.down) return;
    const p = canvasPoint(e);
    stroke(pen.last, p);
    pen.last = p;
  });
  const up = () => { pen.down = false; };
  canvas.addEventListener("pointerup", up);
  canvas.addEventListener("pointercancel", up);
  $("clear").addEventListener("click", () => {
    $("brush").getContext("2d").clearRect(0, 0, state.width, state.height);
  });
  $("brush-size").addEventListener("input", () => { $("brush-size-value").textContent = $("brush-size").value; });
}

// ------------------------------------------------------------------ fill
async function fill() {
  if (state.busy || !state.photo) return;
  clearError();
  state.busy = true;
  $("fill").disabled = true;
  $("result").dataset.state = "pending";
  const started = performance.now();
  try {
    const layer = await new Promise((resolve) => $("brush").toBlob(resolve, "image/png"));
    const form = new FormData();
    form.append("image", state.photo);
    form.append("brush", layer, "brush.png");
    form.append("model", currentModel().id);
    form.append("options", JSON.stringify(changedOptions()));
    status("Sending…", { spin: true });
    const response = await fetch("/api/fill", { method: "POST", body: form });
    if (!response.ok) { showError(await errorOf(response)); status("Nothing was filled."); return; }
    const { job } = await response.json();
    const done = await poll(job);
    if (done.state === "error") { showError(done.error); status("Nothing was filled."); return; }
    const result = await fetch(`/api/jobs/${job}/result`);
    if (!result.ok) { showError(await errorOf(result)); status("Nothing was filled."); return; }
    showResult(await result.blob(), done.seconds, (performance.now() - started) / 1000);
  } catch (e) {
    showError(`the server could not be reached (${e.message || e})`);
    status("Nothing was filled.");
  } finally {
    state.busy = false;
    $("fill").disabled = !state.photo;
  }
}

async function poll(job) {
  for (;;) {
    const response = await fetch(`/api/jobs/${job}`);
    if (!response.ok) return { state: "error", error: await errorOf(response) };
    const s = await response.json();
    if (s.state === "done" || s.state === "error") return s;
    if (s.state === "queued") status(`Waiting for ${s.ahead} fill${s.ahead === 1 ? "" : "s"} ahead…`, { spin: true });
    else if (s.progress) status(`Filling: step ${s.progress[0]} of ${s.progress[1]}`, { progress: s.progress });
    else status("Filling…", { spin: true });
    await new Promise((r) => setTimeout(r, 200));
  }
}

function showResult(blob, seconds, total) {
  if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
  state.resultUrl = URL.createObjectURL(blob);
  const img = $("result");
  img.onload = () => { img.dataset.state = "done"; };
  img.src = state.resultUrl;
  const link = $("download");
  link.href = state.resultUrl;
  link.download = `${state.photoName}-inpainted.png`;
  $("compare").hidden = false;
  $("result-controls").hidden = false;
  setCompare();
  status(`Filled in ${seconds.toFixed(2)} s (${total.toFixed(2)} s with the transfers).`);
}

function setCompare() {
  const v = Number($("compare-slider").value); // 0: all before, 100: all after
  $("before").style.clipPath = `inset(0 ${v}% 0 0)`;
  $("divider").style.left = `${100 - v}%`;
}

// ------------------------------------------------------------------ wiring
window.addEventListener("DOMContentLoaded", () => {
  setupBrush();
  $("image-input").addEventListener("change", (e) => { if (e.target.files[0]) loadPhoto(e.target.files[0]); e.target.value = ""; });
  $("mask-input").addEventListener("change", (e) => { if (e.target.files[0]) loadMask(e.target.files[0]); e.target.value = ""; });
  $("model").addEventListener("change", renderOptions);
  $("fill").addEventListener("click", fill);
  $("compare-slider").addEventListener("input", setCompare);
  loadModels();
});
