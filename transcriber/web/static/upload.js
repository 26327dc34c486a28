// Uploads: one XMLHttpRequest per file, so each gets a real progress bar.
import { renderItem } from "./list.js";
import { $, announce, authHeaders, showKeyForm, state, store } from "./shared.js";
import { t } from "./i18n.js";
import { TUS_MIN_BYTES, tusUpload } from "./tus.js";

function uploadOne(file, fields) {
  const li = document.createElement("li");
  li.innerHTML = `<span class="file"></span><progress max="1" value="0"></progress><span class="msg"></span>`;
  li.querySelector(".file").textContent = file.name;
  li.querySelector("progress").setAttribute("aria-label", t("uploading", { name: file.name }));
  $("uploads").append(li);
  if (file.size >= TUS_MIN_BYTES) return resumable(file, fields, li);
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

// Big files: tus, so a lost connection resumes where it stopped instead of starting over.
function resumable(file, fields, li) {
  const bar = li.querySelector("progress");
  return tusUpload(file, fields, (share) => { bar.value = share; })
    .then((jobId) => uploaded({ status: 202, responseText: JSON.stringify({ job_id: jobId }) }, li, file))
    .catch((error) => {
      if (error.status === 401) showKeyForm(Boolean(state.key));
      return failed(li, file, error.message === "network" ? t("networkError") : error.message);
    });
}

// `url` instead of a file: the server fetches it before it answers.
async function fetchOne(url, fields) {
  const li = document.createElement("li");
  li.innerHTML = `<span class="file"></span><progress max="1"></progress><span class="msg"></span>`;
  const name = decodeURIComponent(new URL(url, location.href).pathname.split("/").pop() || url);
  li.querySelector(".file").textContent = name;
  li.querySelector(".msg").textContent = t("fetching");
  $("uploads").append(li);
  const data = new FormData();
  for (const [k, v] of Object.entries(fields)) data.append(k, v);
  data.append("url", url);
  try {
    const response = await fetch("transcribe", { method: "POST", body: data, headers: authHeaders() });
    const text = await response.text();
    return uploaded({ status: response.status, responseText: text, statusText: response.statusText }, li, { name });
  } catch {
    return failed(li, { name }, t("networkError"));
  }
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

export async function onUpload(event) {
  event.preventDefault();
  const files = [...$("files").files];
  const url = $("url") ? $("url").value.trim() : "";
  if (!files.length && !url) { announce(t("chooseFiles")); $("files").focus(); return; }
  const fields = { task: $("task").value, word_timestamps: String($("words").checked) };
  if ($("language").value !== "auto") fields.language = $("language").value;
  if ($("diarize").checked) fields.diarize = "true";
  $("upload-button").disabled = true;
  for (const file of files) await uploadOne(file, fields);
  if (url) { await fetchOne(url, fields); $("url").value = ""; }
  $("upload-button").disabled = false;
  $("files").value = "";
  $("files").dispatchEvent(new Event("change"));
}
