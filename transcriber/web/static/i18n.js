// Interface strings in English and Russian; the browser's language picks one, the switch overrides.
const STRINGS = {
  en: {
    skip: "Skip to content", title: "Transcriber", interfaceLanguage: "Interface language",
    keyNeeded: "This server needs an API key.", keyWrong: "The API key was not accepted.",
    apiKey: "API key", saveKey: "Save key", newJob: "New transcription",
    dropHere: "Drop audio or video files here, or choose them", language: "Language",
    auto: "Detect automatically", task: "Task", taskTranscribe: "Transcribe",
    taskTranslate: "Translate to English", wordTimestamps: "Word timestamps", upload: "Upload",
    diarize: "Tell speakers apart", speakers: "Speakers", renameSpeakers: "Save names", speakerName: "Name of {id}",
    uploads: "Uploads", jobs: "Jobs", noJobs: "No jobs yet.", close: "Close", cancel: "Cancel",
    delete: "Delete", confirmDelete: "Delete this job and its files?", downloads: "Downloads",
    summary: "Summary", transcript: "Transcript", audioMissing: "The audio is no longer kept on the server.",
    chooseFiles: "Choose one or more files first.", uploading: "Uploading {name}",
    uploaded: "{name} uploaded", done: "Uploaded", uploadFailed: "{name}: {message}", networkError: "network error",
    queued: "Queued", running: "Running", completed: "Completed", failed: "Failed", cancelled: "Cancelled",
    position: "position {n} in the queue", eta: "about {t} left", duration: "Duration", created: "Created",
    progressOf: "{p}% done", textSoFar: "Text so far:", noSegments: "No speech was found.",
    waitTranscript: "The transcript appears here when the job is done.",
    summaryPending: "The summary is being prepared…", summaryFailed: "The summary failed: {message}",
    jobChanged: "{name}: {status}", deleted: "{name} deleted", playFrom: "Play from {t}",
    live: "Live updates are on.", offline: "Live updates lost; reconnecting…", seconds: "{n} s",
    minutes: "{m} min {s} s", hours: "{h} h {m} min", languageLabel: "Language: {l}",
    orUrl: "…or a link to a recording", fetching: "The server is fetching it…",

    liveTitle: "Live transcription", liveStart: "Live", liveStop: "Stop", liveListening: "Listening…",
    liveStopped: "Stopped.", liveNoMic: "No microphone: {message}", liveError: "Live transcription: {message}",
  },
  ru: {
    skip: "Перейти к содержимому", title: "Расшифровка", interfaceLanguage: "Язык интерфейса",
    keyNeeded: "Этому серверу нужен API-ключ.", keyWrong: "API-ключ не принят.",
    apiKey: "API-ключ", saveKey: "Сохранить ключ", newJob: "Новая расшифровка",
    dropHere: "Перетащите сюда аудио или видео или выберите файлы", language: "Язык",
    auto: "Определить автоматически", task: "Задача", taskTranscribe: "Расшифровать",
    taskTranslate: "Перевести на английский", wordTimestamps: "Время каждого слова", upload: "Загрузить",
    diarize: "Различать говорящих", speakers: "Говорящие", renameSpeakers: "Сохранить имена", speakerName: "Имя {id}",
    uploads: "Загрузки", jobs: "Задания", noJobs: "Заданий пока нет.", close: "Закрыть", cancel: "Отменить",
    delete: "Удалить", confirmDelete: "Удалить задание и его файлы?", downloads: "Скачать",
    summary: "Краткое содержание", transcript: "Текст", audioMissing: "Аудио на сервере больше не хранится.",
    chooseFiles: "Сначала выберите один или несколько файлов.", uploading: "Загрузка {name}",
    uploaded: "{name} загружен", done: "Загружено", uploadFailed: "{name}: {message}", networkError: "ошибка сети",
    queued: "В очереди", running: "Идёт расшифровка", completed: "Готово", failed: "Ошибка",
    cancelled: "Отменено", position: "место в очереди: {n}", eta: "осталось около {t}",
    duration: "Длительность", created: "Создано", progressOf: "выполнено {p}%", textSoFar: "Текст на данный момент:",
    noSegments: "Речь не найдена.", waitTranscript: "Текст появится здесь, когда задание будет готово.",
    summaryPending: "Краткое содержание готовится…", summaryFailed: "Не удалось составить краткое содержание: {message}",
    jobChanged: "{name}: {status}", deleted: "{name} удалено", playFrom: "Воспроизвести с {t}",
    live: "Обновления в реальном времени включены.", offline: "Связь потеряна, переподключаемся…",
    seconds: "{n} с", minutes: "{m} мин {s} с", hours: "{h} ч {m} мин", languageLabel: "Язык: {l}",
    orUrl: "…или ссылка на запись", fetching: "Сервер скачивает запись…",

    liveTitle: "Расшифровка в реальном времени", liveStart: "Микрофон", liveStop: "Стоп",
    liveListening: "Слушаю…", liveStopped: "Остановлено.", liveNoMic: "Нет микрофона: {message}",
    liveError: "Расшифровка в реальном времени: {message}",
  },
};

export const LANGS = Object.keys(STRINGS);
let current = "en";

export function pickLanguage(saved, browser) {
  const wanted = [saved, ...(browser || [])].filter(Boolean).map((l) => l.slice(0, 2).toLowerCase());
  current = wanted.find((l) => LANGS.includes(l)) || "en";
  return current;
}

export function setLanguage(lang) {
  current = LANGS.includes(lang) ? lang : "en";
  document.documentElement.lang = current;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
}

export function language() {
  return current;
}

export function t(key, params = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t("seconds", { n: s });
  if (s < 3600) return t("minutes", { m: Math.floor(s / 60), s: s % 60 });
  return t("hours", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}

export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(hh ? 2 : 1, "0");
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function when(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(current, { dateStyle: "short", timeStyle: "short" }).format(new Date(iso));
}

export function languageName(code) {
  try {
    return new Intl.DisplayNames([current], { type: "language" }).of(code) || code;
  } catch {
    return code;
  }
}
