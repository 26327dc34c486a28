// The web page: uploads with progress, a live job list from /events, a job view with the player.
import { clock, duration, language, languageName, pickLanguage, setLanguage, t, when } from "./i18n.js";

const FORMATS = ["txt", "srt", "vtt", "json"];
const ACTIVE = ["queued", "running"];
const LANGUAGES = ["en", "ru", "de", "fr", "es", "it", "pt", "uk", "pl", "nl", "tr", "zh", "ja", "ko", "ar", "hi"];
const $ = (id) => document.getElementById(id);
const store = {
  get: (k, fallback) => { try { return JSON.parse(localStorage.getItem(k)) ?? fallback; } catch { return fallback; } },
  set: (k, v) => { try { localStorage.setItem(k, JSON.stringify(v)); } catch { /* private mode */ } },
};
const state = {
  jobs: new Map(), items: new Map(), selected: null, segments: [], shownSegmentsFor: null,
  key: store.get("transcriber.apiKey", ""), names: store.get("transcriber.names", {}), source: null,
};

// --- talking to the server ---------------------------------------------------------------

function authHeaders() {
  return state.key ? { Authorization: `Bearer ${state.key}` } : {};
}

function withToken(path) {
  return state.key ? `${path}${path.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(state.key)}` : path;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  if (response.status === 401) showKeyForm(Boolean(state.key));
  return response;
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    return body.error?.message || response.statusText;
  } catch {
    return response.statusText || String(response.status);
  }
}

function showKeyForm(wrong) {
  $("key-form").hidden = false;
  $("key-hint").textContent = t(wrong ? "keyWrong" : "keyNeeded");
  if (state.source) state.source.close();
}

async function start() {
  const probe = await api("jobs?limit=1");
  if (probe.ok) connect();
}

function connect() {
  if (state.source) state.source.close();
  const source = new EventSource(withToken("events"));
  state.source = source;
  source.addEventListener("status", (e) => onStatus(JSON.parse(e.data)));
  source.addEventListener("deleted", (e) => onDeleted(JSON.parse(e.data).job_id));
  source.addEventListener("open", () => document.body.classList.remove("offline"));
  source.addEventListener("error", () => {
    document.body.classList.add("offline");
    if (source.readyState === EventSource.CLOSED) setTimeout(start, 3000); // rejected: check the key
  });
}

// --- the job list ---------------------------------------------------------------------------

function nameOf(job) {
  return state.names[job.job_id] || job.job_id;
}

function onStatus(job) {
  const before = state.jobs.get(job.job_id);
  state.jobs.set(job.job_id, job);
  renderItem(job);
  if (before && before.status !== job.status) announce(t("jobChanged", { name: nameOf(job), status: t(job.status) }));
  if (state.selected === job.job_id) renderView();
}

function onDeleted(jobId) {
  const job = state.jobs.get(jobId);
  state.jobs.delete(jobId);
  state.items.get(jobId)?.remove();
  state.items.delete(jobId);
  $("jobs-empty").hidden = state.jobs.size > 0;
  if (job) announce(t("deleted", { name: nameOf(job) }));
  if (state.selected === jobId) closeView();
}

function summaryLine(job) {
  const parts = [t(job.status)];
  if (job.status === "running") parts.push(t("progressOf", { p: Math.round(job.progress * 100) }));
  if (job.status === "queued" && job.queue_position) parts.push(t("position", { n: job.queue_position }));
  if (ACTIVE.includes(job.status) && job.eta_seconds != null) parts.push(t("eta", { t: duration(job.eta_seconds) }));
  return parts.join(" · ");
}

function renderItem(job) {
  let li = state.items.get(job.job_id);
  if (!li) {
    li = document.createElement("li");
    li.innerHTML = `<button type="button" class="job"><span class="name"></span><span class="meta"></span>
      <progress max="1"></progress><span class="facts"></span></button>`;
    li.querySelector("button").addEventListener("click", () => openJob(job.job_id));
    state.items.set(job.job_id, li);
    const newer = [...state.items.keys()].filter((id) => id !== job.job_id && isNewer(state.jobs.get(id), job));
    const after = newer.length ? state.items.get(newer.reduce((a, b) => (isNewer(state.jobs.get(b), state.jobs.get(a)) ? a : b))) : null;
    $("jobs").insertBefore(li, after ? after.nextSibling : $("jobs").firstChild);
  }
  fillItem(li, job);
  $("jobs-empty").hidden = true;
}

function isNewer(a, b) {
  return a.created_at > b.created_at || (a.created_at === b.created_at && a.job_id > b.job_id);
}

function fillItem(li, job) {
  const button = li.querySelector("button");
  button.dataset.status = job.status;
  button.dataset.jobId = job.job_id;
  button.setAttribute("aria-current", state.selected === job.job_id ? "true" : "false");
  li.querySelector(".name").textContent = nameOf(job);
  li.querySelector(".meta").textContent = summaryLine(job);
  const bar = li.querySelector("progress");
  bar.value = job.status === "completed" ? 1 : job.progress;
  bar.hidden = job.status !== "running";
  bar.setAttribute("aria-label", t("progressOf", { p: Math.round(job.progress * 100) }));
  const facts = [`${t("created")}: ${when(job.created_at)}`];
  if (job.duration != null) facts.unshift(`${t("duration")}: ${clock(job.duration)}`);
  li.querySelector(".facts").textContent = facts.join(" · ");
}

function renderList() {
  for (const job of state.jobs.values()) fillItem(state.items.get(job.job_id), job);
}

// --- the job view --------------------------------------------------------------------------

function openJob(jobId) {
  state.selected = jobId;
  state.segments = [];
  state.shownSegmentsFor = null;
  $("segments").replaceChildren();
  const player = $("player");
  player.hidden = false;
  $("audio-missing").hidden = true;
  player.src = withToken(`jobs/${encodeURIComponent(jobId)}/audio`);
  $("job-view").hidden = false;
  renderList();
  renderView();
  $("job-title").focus();
}

function closeView() {
  const previous = state.selected;
  state.selected = null;
  $("player").pause();
  $("player").removeAttribute("src");
  $("job-view").hidden = true;
  renderList();
  state.items.get(previous)?.querySelector("button").focus();
}

function renderView() {
  const job = state.jobs.get(state.selected);
  if (!job) return;
  const id = encodeURIComponent(job.job_id);
  $("job-title").textContent = nameOf(job);
  const lang = job.language ? ` · ${t("languageLabel", { l: languageName(job.language) })}` : "";
  $("job-state").textContent = summaryLine(job) + lang;
  $("job-progress").value = job.status === "completed" ? 1 : job.progress;
  $("job-progress").hidden = !ACTIVE.includes(job.status);
  $("cancel-job").hidden = !ACTIVE.includes(job.status);
  $("delete-job").hidden = ACTIVE.includes(job.status);
  $("job-error").hidden = !job.error || job.status === "cancelled";
  $("job-error").textContent = job.error ? job.error.message : "";
  renderDownloads(job, id);
  renderSummary(job);
  if (job.status === "completed" && state.shownSegmentsFor !== job.job_id) loadSegments(job.job_id);
  if (job.status !== "completed") {
    $("transcript-note").textContent = job.status === "running" && job.text ? `${t("textSoFar")} ${job.text}` : t("waitTranscript");
  }
}

function renderDownloads(job, id) {
  const done = job.status === "completed";
  $("downloads").hidden = !done;
  if (!done) return;
  $("download-links").replaceChildren(...FORMATS.map((fmt) => {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = withToken(`jobs/${id}/transcript.${fmt}`);
    a.download = `${nameOf(job).replace(/\.[^.]+$/, "")}.${fmt}`;
    a.textContent = fmt.toUpperCase();
    li.append(a);
    return li;
  }));
}

function renderSummary(job) {
  const summary = job.summary || { status: "disabled" };
  $("summary-box").hidden = summary.status === "disabled" || job.status !== "completed";
  if (summary.status === "completed") $("summary").textContent = summary.text || "";
  else if (summary.status === "failed") $("summary").textContent = t("summaryFailed", { message: summary.error || "" });
  else $("summary").textContent = t("summaryPending");
}

async function loadSegments(jobId) {
  state.shownSegmentsFor = jobId;
  const response = await api(`jobs/${encodeURIComponent(jobId)}/transcript.json`);
  if (!response.ok || state.selected !== jobId) return;
  const body = await response.json();
  state.segments = body.segments || [];
  $("transcript-note").textContent = state.segments.length ? "" : t("noSegments");
  $("segments").replaceChildren(...state.segments.map((seg, i) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "segment";
    button.dataset.index = String(i);
    button.setAttribute("aria-label", `${t("playFrom", { t: clock(seg.start) })}: ${seg.text.trim()}`);
    button.innerHTML = `<time></time><span></span>`;
    button.querySelector("time").textContent = clock(seg.start);
    button.querySelector("span").textContent = seg.text.trim();
    button.addEventListener("click", () => playFrom(i));
    li.append(button);
    return li;
  }));
}

function playFrom(index) {
  const player = $("player");
  player.currentTime = state.segments[index].start;
  highlight(index);
  player.play().catch(() => { /* the page may not autoplay; the position is set anyway */ });
}

function highlight(index) {
  for (const el of $("segments").querySelectorAll(".segment.current")) {
    el.classList.remove("current");
    el.removeAttribute("aria-current");
  }
  const el = $("segments").querySelector(`.segment[data-index="${index}"]`);
  if (!el) return;
  el.classList.add("current");
  el.setAttribute("aria-current", "true");
}

function onTime() {
  const now = $("player").currentTime;
  const index = state.segments.findIndex((s) => s.start <= now && now < s.end);
  if (index >= 0) {
    highlight(index);
    if (!$("player").paused) $("segments").querySelector(".current")?.scrollIntoView({ block: "nearest" });
  }
}

// --- uploads ---------------------------------------------------------------------------------

function uploadOne(file, fields) {
  const li = document.createElement("li");
  li.innerHTML = `<span class="file"></span><progress max="1" value="0"></progress><span class="msg"></span>`;
  li.querySelector(".file").textContent = file.name;
  li.querySelector("progress").setAttribute("aria-label", t("uploading", { name: file.name }));
  $("uploads").append(li);
  const data = new FormData();
  for (const [k, v] of Object.entries(fields)) data.append(k, v);
  data.append("file", file, file.name);
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "transcribe");
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) li.querySelector("progress").value = e.loaded / e.total;
    });
    xhr.addEventListener("load", () => resolve(uploaded(xhr, li, file)));
    xhr.addEventListener("error", () => resolve(failed(li, file, t("networkError"))));
    xhr.send(data);
  });
}

function uploaded(xhr, li, file) {
  let body = {};
  try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
  if (xhr.status === 401) showKeyForm(Boolean(state.key));
  if (xhr.status !== 200 && xhr.status !== 202) return failed(li, file, body.error?.message || xhr.statusText);
  li.querySelector("progress").value = 1;
  const msg = li.querySelector(".msg");
  msg.dataset.i18n = "done";
  msg.textContent = t("done");
  state.names[body.job_id] = file.name;
  store.set("transcriber.names", state.names);
  const job = state.jobs.get(body.job_id);
  if (job) renderItem(job);
  announce(t("uploaded", { name: file.name }));
  return body.job_id;
}

function failed(li, file, message) {
  li.classList.add("failed");
  li.querySelector(".msg").textContent = message;
  announce(t("uploadFailed", { name: file.name, message }));
  return null;
}

async function onUpload(event) {
  event.preventDefault();
  const files = [...$("files").files];
  if (!files.length) { announce(t("chooseFiles")); $("files").focus(); return; }
  const fields = { task: $("task").value, word_timestamps: String($("words").checked) };
  if ($("language").value !== "auto") fields.language = $("language").value;
  $("upload-button").disabled = true;
  for (const file of files) await uploadOne(file, fields);
  $("upload-button").disabled = false;
  $("files").value = "";
}

// --- wiring ----------------------------------------------------------------------------------

function announce(text) {
  $("announcer").textContent = text;
}

function fillLanguages() {
  const select = $("language");
  const chosen = select.value || "auto";
  const options = [["auto", t("auto")], ...LANGUAGES.map((c) => [c, languageName(c)])];
  select.replaceChildren(...options.map(([value, label]) => new Option(label, value, false, value === chosen)));
}

function applyLanguage(lang) {
  setLanguage(lang);
  $("lang-switch").value = language();
  $("uploads").setAttribute("aria-label", t("uploads"));
  $("drop").querySelector("span").textContent = [...$("files").files].map((f) => f.name).join(", ") || t("dropHere");
  fillLanguages();
  renderList();
  renderView();
}

function bind() {
  $("lang-switch").addEventListener("change", (e) => { store.set("transcriber.lang", e.target.value); applyLanguage(e.target.value); });
  $("upload-form").addEventListener("submit", onUpload);
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.key = $("api-key").value.trim();
    store.set("transcriber.apiKey", state.key);
    $("key-form").hidden = true;
    start();
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    $("files").files = e.dataTransfer.files;
    $("files").dispatchEvent(new Event("change"));
  });
  $("files").addEventListener("change", () => {
    const names = [...$("files").files].map((f) => f.name).join(", ");
    drop.querySelector("span").textContent = names || t("dropHere");
  });
  $("close-job").addEventListener("click", closeView);
  $("cancel-job").addEventListener("click", async () => {
    const response = await api(`jobs/${encodeURIComponent(state.selected)}/cancel`, { method: "POST" });
    if (!response.ok) announce(await errorMessage(response));
  });
  $("delete-job").addEventListener("click", async () => {
    if (!confirm(t("confirmDelete"))) return;
    const response = await api(`jobs/${encodeURIComponent(state.selected)}`, { method: "DELETE" });
    if (!response.ok) announce(await errorMessage(response));
  });
  $("player").addEventListener("timeupdate", onTime);
  $("player").addEventListener("error", () => {
    if (!state.selected) return;
    $("player").hidden = true;
    $("audio-missing").hidden = false;
  });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && state.selected) closeView(); });
}

bind();
$("api-key").value = state.key;
applyLanguage(pickLanguage(store.get("transcriber.lang", ""), navigator.languages || [navigator.language]));
start();
