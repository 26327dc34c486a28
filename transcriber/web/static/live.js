// The "Live" button: the microphone (getUserMedia + an AudioWorklet) over /v1/realtime, partial and final text.
import { t } from "./i18n.js";
import { $, announce, state } from "./shared.js";

const RATE = 24000;
let live = null; // {ws, context, stream, ready}

function socketUrl() {
  const url = new URL("v1/realtime?intent=transcription", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

function base64(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function turnLine(itemId) {
  let line = document.querySelector(`#live-text [data-item="${CSS.escape(itemId)}"]`);
  if (!line) {
    line = document.createElement("p");
    line.dataset.item = itemId;
    line.className = "live-turn partial";
    $("live-text").append(line);
  }
  return line;
}

function onEvent(event) {
  if (event.type === "conversation.item.input_audio_transcription.delta") {
    turnLine(event.item_id).textContent += event.delta;
  } else if (event.type === "conversation.item.input_audio_transcription.completed") {
    const line = turnLine(event.item_id);
    line.textContent = event.transcript;
    line.className = "live-turn final";
    announce(event.transcript);
  } else if (event.type === "error" && event.error.code !== "input_audio_buffer_commit_empty") {
    // (Stop commits what was said last; when nothing was left, that answer is expected.)
    $("live-state").textContent = t("liveError", { message: event.error.message });
  }
}

async function startLive() {
  $("live-state").textContent = "";
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true } });
  } catch (error) {
    $("live-state").textContent = t("liveNoMic", { message: error.message });
    return;
  }
  const protocols = ["realtime", ...(state.key ? [`openai-insecure-api-key.${state.key}`] : [])];
  const ws = new WebSocket(socketUrl(), protocols);
  const context = new AudioContext({ sampleRate: RATE });
  live = { ws, context, stream, ready: false };
  const session = live;
  setButton(true);
  ws.onopen = () => {
    const language = $("language").value === "auto" ? "" : $("language").value;
    const input = {
      format: { type: "audio/pcm", rate: context.sampleRate },
      transcription: { model: "whisper-1", language },
      turn_detection: { type: "server_vad" },
    };
    ws.send(JSON.stringify({ type: "session.update", session: { type: "transcription", audio: { input } } }));
    session.ready = true; // audio only after the session is configured
    $("live-state").textContent = t("liveListening");
  };
  ws.onmessage = (e) => onEvent(JSON.parse(e.data));
  ws.onclose = () => stopLive(false);
  await context.audioWorklet.addModule("static/pcm-worklet.js");
  const node = new AudioWorkletNode(context, "pcm-sender");
  context.createMediaStreamSource(stream).connect(node);
  node.port.onmessage = (e) => {
    if (session.ready && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: "input_audio_buffer.append", audio: base64(e.data) }));
    }
  };
}

function stopLive(closeSocket = true) {
  if (!live) return;
  const { ws, context, stream } = live;
  live = null;
  stream.getTracks().forEach((track) => track.stop());
  context.close();
  if (closeSocket && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify({ type: "input_audio_buffer.commit" }));
    setTimeout(() => ws.close(), 3000); // the last words' final text comes first
  }
  setButton(false);
  $("live-state").textContent = t("liveStopped");
}

function setButton(on) {
  const button = $("live-button");
  button.textContent = t(on ? "liveStop" : "liveStart");
  button.setAttribute("aria-pressed", String(on));
}

export function bindLive() {
  $("live-button").addEventListener("click", () => (live ? stopLive() : startLive()));
}
