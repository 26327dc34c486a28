// Shared by the page's modules: the state, the browser storage, the API with its key, announcements.
import { duration, t } from "./i18n.js";

export const ACTIVE = ["queued", "running"];
export const $ = (id) => document.getElementById(id);
export const store = {
  get: (k, fallback) => { try { return JSON.parse(localStorage.getItem(k)) ?? fallback; } catch { return fallback; } },
  set: (k, v) => { try { localStorage.setItem(k, JSON.stringify(v)); } catch { /* private mode */ } },
};
export const state = {
  jobs: new Map(), items: new Map(), selected: null, segments: [], shownSegmentsFor: null,
  key: store.get("transcriber.apiKey", ""), names: store.get("transcriber.names", {}), source: null,
};

export function authHeaders() {
  return state.key ? { Authorization: `Bearer ${state.key}` } : {};
}

export function withToken(path) {
  return state.key ? `${path}${path.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(state.key)}` : path;
}

export async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  if (response.status === 401) showKeyForm(Boolean(state.key));
  return response;
}

export async function errorMessage(response) {
  try {
    const body = await response.json();
    return body.error?.message || response.statusText;
  } catch {
    return response.statusText || String(response.status);
  }
}

export function showKeyForm(wrong) {
  $("key-form").hidden = false;
  $("key-hint").textContent = t(wrong ? "keyWrong" : "keyNeeded");
  if (state.source) state.source.close();
}

export function announce(text) {
  $("announcer").textContent = text;
}

export function nameOf(job) {
  return state.names[job.job_id] || job.job_id;
}

export function summaryLine(job) {
  const parts = [t(job.status)];
  if (job.status === "running") parts.push(t("progressOf", { p: Math.round(job.progress * 100) }));
  if (job.status === "queued" && job.queue_position) parts.push(t("position", { n: job.queue_position }));
  if (ACTIVE.includes(job.status) && job.eta_seconds != null) parts.push(t("eta", { t: duration(job.eta_seconds) }));
  return parts.join(" · ");
}
