// Resumable uploads (tus 1.0) for big files: chunked PATCHes with a progress bar, retried after a
// lost connection from the offset the server reports, and resumed after a reload (the upload's URL
// is remembered per file). Written for this page: the protocol's core is a few requests.
import { authHeaders, store } from "./shared.js";

export const TUS_MIN_BYTES = 8 * 1024 * 1024; // smaller files go in one POST /transcribe
const CHUNK = 8 * 1024 * 1024;
const WAITS = [500, 1000, 2000, 4000, 8000, 15000, 30000]; // between tries after a network error
const TUS = { "Tus-Resumable": "1.0.0" };

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
const remembered = (file) => `transcriber.tus.${file.name}.${file.size}.${file.lastModified}`;
const b64 = (text) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));

// One request; XMLHttpRequest rather than fetch, for upload progress. Rejects only on network errors.
function send(method, url, headers, body, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [k, v] of Object.entries({ ...authHeaders(), ...TUS, ...headers })) xhr.setRequestHeader(k, v);
    if (onProgress) xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded));
    xhr.addEventListener("load", () => resolve(xhr));
    xhr.addEventListener("error", () => reject(new Error("network")));
    xhr.addEventListener("abort", () => reject(new Error("network")));
    xhr.send(body ?? null);
  });
}

function problem(xhr) {
  try { return JSON.parse(xhr.responseText).error?.message || xhr.statusText; } catch { return xhr.statusText; }
}

async function offsetOf(url) {
  const xhr = await send("HEAD", url, {});
  return xhr.status === 200 ? Number(xhr.getResponseHeader("Upload-Offset")) : null;
}

async function create(file, fields) {
  const meta = Object.entries({ ...fields, filename: file.name }).map(([k, v]) => `${k} ${b64(String(v))}`);
  const xhr = await send("POST", "uploads/", { "Upload-Length": String(file.size), "Upload-Metadata": meta.join(",") });
  if (xhr.status !== 201) throw Object.assign(new Error(problem(xhr)), { status: xhr.status });
  return new URL(xhr.getResponseHeader("Location"), location.href).pathname;
}

// Upload `file` with these form fields; onProgress(0..1). Resolves to the job id, rejects with the reason.
export async function tusUpload(file, fields, onProgress) {
  const key = remembered(file);
  let url = store.get(key, null);
  let offset = url ? await offsetOf(url).catch(() => null) : null;
  if (offset === null) {
    url = await create(file, fields);
    offset = 0;
    store.set(key, url);
  }
  for (let failures = 0; ;) {
    const start = offset;
    const chunk = file.slice(start, Math.min(file.size, start + CHUNK));
    let xhr;
    try {
      xhr = await send("PATCH", url, { "Upload-Offset": String(start), "Content-Type": "application/offset+octet-stream" },
        chunk, (sent) => onProgress((start + sent) / file.size));
    } catch {
      if (failures >= WAITS.length) throw new Error("network");
      await sleep(WAITS[failures++]);
      offset = (await offsetOf(url).catch(() => start)) ?? start; // the server kept what arrived
      continue;
    }
    if (xhr.status === 204) {
      failures = 0;
      offset = Number(xhr.getResponseHeader("Upload-Offset"));
      onProgress(offset / file.size);
      const job = xhr.getResponseHeader("X-Job-Id");
      if (job) { localStorage.removeItem(key); return job; }
    } else if (xhr.status === 409 || xhr.status === 423) {
      await sleep(500); // a PATCH cut off just now is still being settled
      offset = (await offsetOf(url)) ?? 0;
    } else {
      if (xhr.status !== 503 && xhr.status !== 429 && xhr.status !== 507) localStorage.removeItem(key);
      throw Object.assign(new Error(problem(xhr)), { status: xhr.status });
    }
  }
}
