// The web page: wiring, language, and the live connection to GET /events.
import { language, languageName, pickLanguage, setLanguage, t } from "./i18n.js";
import { onDeleted, onStatus, renderList } from "./list.js";
import { bindLive } from "./live.js";
import { $, announce, api, errorMessage, state, store, withToken } from "./shared.js";
import { onUpload } from "./upload.js";
import { closeView, onTime, renderView } from "./view.js";

const LANGUAGES = ["en", "ru", "de", "fr", "es", "it", "pt", "uk", "pl", "nl", "tr", "zh", "ja", "ko", "ar", "hi"];

async function start() {
  let probe = null;
  try {
    probe = await api("jobs?limit=1");
  } catch { /* the server is unreachable: try again below */ }
  if (probe?.ok) connect();
  else if (probe?.status !== 401) setTimeout(start, 3000); // a 401 waits for the key form
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
bindLive();
$("api-key").value = state.key;
applyLanguage(pickLanguage(store.get("transcriber.lang", ""), navigator.languages || [navigator.language]));
start();
