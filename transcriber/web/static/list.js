// The job list, kept current by the status events of GET /events.
import { closeView, openJob, renderView } from "./view.js";
import { $, announce, nameOf, state, summaryLine } from "./shared.js";
import { clock, t, when } from "./i18n.js";

export function onStatus(job) {
  const before = state.jobs.get(job.job_id);
  state.jobs.set(job.job_id, job);
  renderItem(job);
  if (before && before.status !== job.status) announce(t("jobChanged", { name: nameOf(job), status: t(job.status) }));
  if (state.selected === job.job_id) renderView();
}

export function onDeleted(jobId) {
  const job = state.jobs.get(jobId);
  state.jobs.delete(jobId);
  state.items.get(jobId)?.remove();
  state.items.delete(jobId);
  $("jobs-empty").hidden = state.jobs.size > 0;
  if (job) announce(t("deleted", { name: nameOf(job) }));
  if (state.selected === jobId) closeView();
}

export function renderItem(job) {
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

export function renderList() {
  for (const job of state.jobs.values()) fillItem(state.items.get(job.job_id), job);
}
