// The job view: state, actions, downloads, summary, and the transcript next to the player.
import { renderList } from "./list.js";
import { $, ACTIVE, api, nameOf, state, summaryLine, withToken } from "./shared.js";
import { clock, languageName, t } from "./i18n.js";

const FORMATS = ["txt", "srt", "vtt", "json"];

export function openJob(jobId) {
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

export function closeView() {
  const previous = state.selected;
  state.selected = null;
  $("player").pause();
  $("player").removeAttribute("src");
  $("job-view").hidden = true;
  renderList();
  state.items.get(previous)?.querySelector("button").focus();
}

export function renderView() {
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
  const speakers = body.speakers || [];
  const names = new Map(speakers.map((s) => [s.id, s.name]));
  renderSpeakerNames(jobId, speakers);
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
    if (seg.speaker) {
      const who = document.createElement("b");
      who.className = "speaker";
      who.style.setProperty("--hue", String(speakerHue(seg.speaker)));
      who.textContent = `${names.get(seg.speaker) || seg.speaker}: `;
      button.querySelector("span").prepend(who);
    }
    button.addEventListener("click", () => playFrom(i));
    li.append(button);
    return li;
  }));
}

// A colour per speaker id (S1, S2, ...): hues spread around the wheel.
function speakerHue(id) {
  const n = Number.parseInt(id.replace(/\D/g, ""), 10) || 0;
  return (n * 137) % 360;
}

function renderSpeakerNames(jobId, speakers) {
  const form = $("speaker-names");
  form.hidden = !speakers.length;
  $("speaker-fields").replaceChildren(...speakers.map((s) => {
    const label = document.createElement("label");
    label.className = "speaker";
    label.style.setProperty("--hue", String(speakerHue(s.id)));
    label.textContent = `${s.id} `;
    const input = document.createElement("input");
    input.name = s.id;
    input.value = s.name;
    input.maxLength = 64;
    input.setAttribute("aria-label", t("speakerName", { id: s.id }));
    label.append(input);
    return label;
  }));
  form.onsubmit = async (event) => {
    event.preventDefault();
    const names = Object.fromEntries([...form.querySelectorAll("input")].map((i) => [i.name, i.value]));
    const response = await api(`jobs/${encodeURIComponent(jobId)}/speakers`, {
      method: "PATCH", headers: { "Content-Type": "application/json" }, body: JSON.stringify(names),
    });
    if (response.ok) loadSegments(jobId);
  };
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

export function onTime() {
  const now = $("player").currentTime;
  const index = state.segments.findIndex((s) => s.start <= now && now < s.end);
  if (index >= 0) {
    highlight(index);
    if (!$("player").paused) $("segments").querySelector(".current")?.scrollIntoView({ block: "nearest" });
  }
}
