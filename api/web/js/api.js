/**
 * The page's access to the utm6g API: the bearer token (taken from the URL fragment, kept in
 * sessionStorage, never logged), GETs that carry it, and the #status bar where every failure is shown
 * with its HTTP status and the server's message (docs/map-api.md).
 */

const TOKEN_KEY = "utm6g.token";
const INFO_SHOWN_MS = 6000;

/** An answer other than 2xx (status 0: the request never got one). */
export class ApiError extends Error {
  constructor(status, message, path) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.path = path;
  }
}

/**
 * The fragment's parameters (`#run=NAME&t=120`, `#live`) after moving a `token` into sessionStorage and
 * out of the address bar, so it is neither bookmarked nor shown over a shoulder.
 */
export function takeFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    params.delete("token");
    history.replaceState(null, "", `${location.pathname}${location.search}${formatFragment(params)}`);
  }
  return params;
}

/** `#run=a&t=3` from parameters; a parameter with an empty value is written bare (`#live`). */
export function formatFragment(params) {
  const parts = [...params].map(([k, v]) => (v === "" ? k : `${k}=${encodeURIComponent(v)}`));
  return parts.length ? `#${parts.join("&")}` : "";
}

export const hasToken = () => Boolean(sessionStorage.getItem(TOKEN_KEY));
export const setToken = (token) => sessionStorage.setItem(TOKEN_KEY, token.trim());

/** GET `path` with the bearer token; a non-2xx answer or a network failure raises ApiError. */
async function get(path, { signal, accept } = {}) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) ?? ""}` };
  if (accept) headers.Accept = accept;
  let answer;
  try {
    answer = await fetch(path, { headers, signal, cache: "no-store" });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, `network error (${err.message})`, path);
  }
  if (!answer.ok) throw new ApiError(answer.status, await messageOf(answer), path);
  return answer;
}

/** The `message` of the service's JSON error body, or the raw text when it is not JSON. */
async function messageOf(answer) {
  const text = await answer.text();
  try {
    const body = JSON.parse(text);
    return body.message ?? (typeof body.detail === "string" ? body.detail : text);
  } catch {
    return text || answer.statusText;
  }
}

export const getJSON = async (path, options) => (await get(path, options)).json();
export const getBytes = async (path, options) => (await get(path, options)).arrayBuffer();
/** The open response of an event stream, for reading its body chunk by chunk. */
export const openStream = (path, signal) => get(path, { signal, accept: "text/event-stream" });

let hideTimer = 0;

/** Show a line in #status; `info` lines fade after a few seconds, `notice` and `error` stay until clicked. */
export function showStatus(text, kind = "info") {
  const bar = document.getElementById("status");
  bar.textContent = text;
  bar.dataset.kind = kind;
  bar.hidden = false;
  clearTimeout(hideTimer);
  if (kind === "info") hideTimer = setTimeout(() => (bar.hidden = true), INFO_SHOWN_MS);
}

/** Show a failure: the HTTP status, the server's message and the request (query left out). */
export function showError(err) {
  if (err?.name === "AbortError") return;
  if (err instanceof ApiError) {
    const status = err.status === 0 ? "no answer" : `HTTP ${err.status}`;
    showStatus(`${status}: ${err.message} (GET ${err.path.split("?")[0]})`, "error");
  } else {
    showStatus(`error: ${err?.message ?? err}`, "error");
  }
}
