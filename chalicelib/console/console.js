// The API console: every method of the webhook API, with the jar button that opens its fields,
// Enter to run it, and the JSON answer; the webhooks of an event or a company with their health,
// searchable; each webhook's settings, test sends, secret rotation and delivery log; a message's
// view, and where a message went (webhook.trace); the catalog of types. Plain DOM code: no
// framework, no build, nothing fetched from elsewhere. Values are put on the page with
// textContent, never as HTML.
//
// The methods and their fields are read from the service's own OpenAPI document
// (/openapi.json, generated from the method registry): a method added there shows up here.
"use strict";

const REFRESH_MS = 3000;  // how often an open delivery log or message is read again
const PAGE_SIZE = 20;  // messages a page of the delivery log
const PICTURE_SIZE = 100;  // the health picture: the latest 100 messages, as webhook.stats counts them
const HEALTH_READS_AT_ONCE = 3;  // webhook.stats calls in flight while the list's health fills in
// ...and at most this many a second: half a token's default rate limit (50 a second), so that
// filling in 200 rows leaves the reader's own calls room (an admin token has no limit).
const HEALTH_READS_PER_SECOND = 25;
const HEALTH_FRESH_MS = 60000;  // a row's health read this recently is not read again when the list reloads
const MAX_DESCRIPTION = 200;  // characters of a webhook's description (contract, section 22)
// What a description may not hold (chalicelib/validation.py refuses these and a few rarer ones).
const NOT_PRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/u;
// Header names the service sets itself (chalicelib/api/receiver_options.py): a receiver's own may not.
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;  // RFC 9110's token
const RESERVED_HEADERS = ["content-type", "content-length", "host", "user-agent", "connection", "transfer-encoding", "te",
  "upgrade", "expect"];
const ANSWER_KEPT_BYTES = 2048;  // the service keeps the first 2 KiB of an endpoint's answer
// An endpoint's OAuth 2.0 client (contract, section 20; chalicelib/api/receiver_options.py).
const MAX_CLIENT_ID = 256, MAX_CLIENT_SECRET = 1024, MAX_SCOPE = 1024;
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/;  // RFC 6749, 3.3
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const MAX_TEMPLATE_BYTES = 4096;  // a template's body (contract, section 21)
const PREVIEW_PAUSE_MS = 250;  // a template's preview is rendered by the service once typing pauses this long
// What each choice of a method's option means, where its name alone does not say it.
const OPTION_LABELS = {
  signature: { "": "hmac (the default)", hmac: "hmac — a shared secret signs (v1); it is shown once",
    ed25519: "ed25519 — a key pair signs (v1a); receivers verify with the public key alone" },
  delivery: { "": "push (the default)", push: "push — each message is POSTed to url",
    pull: "pull — no url: the messages wait, in order, to be read with webhook.poll" },
};
const SVG_NS = "http://www.w3.org/2000/svg";
const PLACEHOLDERS = { url: "https://example.com/hooks/inevent", webhookID: "wh_...", messageID: "msg_...", tokenID: "tok_..." };
const JAR = '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false">' +
  '<path fill="currentColor" d="M8 2h8v3h-1v1.2c2.4.8 4 3 4 5.6V19a3 3 0 0 1-3 3H8a3 3 0 0 1-3-3v-7.2c0-2.6' +
  ' 1.6-4.8 4-5.6V5H8V2zm3 3v2.6l-.7.2C8.4 8.4 7 10 7 11.8V19a1 1 0 0 0 1 1h8a1 1 0 0 0 1-1v-7.2c0-1.8-1.4-3.4-3.3-4' +
  'l-.7-.2V5h-2z"/></svg>';

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== false && value !== undefined && value !== null) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

function stored(name, fallback = "") {
  return {
    get() { return sessionStorage.getItem("inevent." + name) || fallback; },
    set(value) { sessionStorage.setItem("inevent." + name, value); },
  };
}
// Each level keeps its own ID: switching to the company level never carries the event's over.
const session = { token: stored("token"), level: stored("level", "event"), event: stored("event"), company: stored("company"),
  webhook: stored("webhook") };
const ownerOf = (level) => session[level];
const ownerField = () => (session.level.get() === "company" ? "companyID" : "eventID");

// What the console shows in its webhook area: null, or {kind, webhookID, ...}. `loaded` is the
// level and owner whose webhooks are listed (what prefills follow); `hooks` those webhooks;
// `stats` each one's latest webhook.stats answer and when it came ({stats, at}).
const state = { view: null, types: null, typeNames: [], methods: [], timer: null, loaded: null, hooks: new Map(), link: null,
  stats: new Map() };

// `quiet` calls (the console refreshing itself) leave the Answer panel to what the user ran;
// `jump` (a method run from its form) brings the Answer panel into view on a phone.
async function call(method, params, { quiet = false, jump = false } = {}) {
  const body = {};
  for (const [key, value] of Object.entries(params)) if (value !== "" && value !== undefined && value !== null) body[key] = value;
  let status = 0, answer, retryAfter = null;
  try {
    const response = await fetch("/api/" + method, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + session.token.get() },
      body: JSON.stringify(body),
    });
    status = response.status;
    retryAfter = response.headers.get("Retry-After");
    const text = await response.text();
    try {
      answer = JSON.parse(text);
    } catch {
      // A gateway or proxy in between answered with its own page (a 502 in HTML, say).
      answer = { error: { code: "not_json", field: null, message: `The service answered ${status}` +
        (response.statusText ? " " + response.statusText : "") + " with a page that is not JSON: a gateway or proxy " +
        "between this page and the service failed. Try again in a moment." } };
    }
  } catch {
    answer = { error: { code: "unreachable", field: null,
      message: "The service could not be reached: check the connection, and that the service is running." } };
  }
  const result = { status, answer, retryAfter, ok: status >= 200 && status < 300 };
  if (status === 401) tokenRefused(answer);
  if (!quiet) show(method, result, { jump });
  return result;
}

function errorText(result) {
  return result.answer?.error?.message || `failed (${result.status || "no answer"})`;
}

// An outcome shown where the action was taken (a row, a message, a form), not only in the
// Answer panel, which may be off-screen.
function outcomeNode(key) {
  return el("p", { class: "outcome", role: "status", "data-outcome": key });
}

function say(node, text, ok) {
  if (!node) return;
  node.textContent = text;
  node.className = "outcome " + (ok ? "ok" : "bad");
}

const nextFrame = () => new Promise((done) => requestAnimationFrame(() => done()));

// What holds the reader's eye: the focused element if it is on screen, else `fallback`.
function placeOf(fallback) {
  const active = document.activeElement !== document.body ? document.activeElement : null;
  return [active, fallback].find((node) => node && document.contains(node) && onScreen(node)) || null;
}

// `change` (synchronous) adds or removes content; what the reader looks at does not move.
function holdPlace(change, fallback = null) {
  const anchor = placeOf(fallback), before = anchor ? anchor.getBoundingClientRect().top : 0;
  const value = change();
  if (anchor && document.contains(anchor)) {
    const shift = anchor.getBoundingClientRect().top - before;
    if (Math.abs(shift) >= 1) window.scrollBy(0, shift);
  }
  return value;
}

function onScreen(node) {
  const box = node.getBoundingClientRect();
  return box.bottom > 0 && box.top < window.innerHeight;
}

// Keep what the reader looks at where it is on the screen while `change` adds or removes
// content above it: the focused element, or else `fallback`, if it is on screen. When the focus
// moves meanwhile (a view opened from a link takes it, and scrolls to it), the place kept is
// the newly focused element's, as it is once that focus has scrolled it into view: content
// that grows above it later (the list's health lines) does not push it away.
async function keepPlace(change, fallback = null) {
  let anchor = null, key = null, before = 0;
  const measure = (node) => {
    anchor = node;
    key = anchor && anchorKey(anchor);
    before = anchor ? anchor.getBoundingClientRect().top : 0;
  };
  measure(placeOf(fallback));
  let pending = null;
  const moved = (event) => {
    pending = requestAnimationFrame(() => { pending = null; measure(onScreen(event.target) ? event.target : null); });
  };
  document.addEventListener("focusin", moved);
  let value;
  try {
    value = await change();
  } finally {
    document.removeEventListener("focusin", moved);
  }
  if (pending !== null) await nextFrame();  // a focus moved at the end is measured first
  const now = anchor && (document.contains(anchor) ? anchor : key && findAnchor(key));
  // A focused control drawn anew (a row of the list) keeps the focus in its new drawing.
  if (now && now !== anchor && document.activeElement === document.body) now.focus({ preventScroll: true });
  if (now) {
    const shift = now.getBoundingClientRect().top - before;
    if (Math.abs(shift) >= 1) window.scrollBy(0, shift);
  }
  return value;
}

// How to find an element again after its row was drawn anew: its row's ID and its key.
function anchorKey(node) {
  const holder = node.closest("[data-webhook], [data-message]");
  if (!holder) return null;
  return { webhook: holder.dataset.webhook, message: holder.dataset.message, key: node.dataset?.key || null };
}

function findAnchor({ webhook, message, key }) {
  const holder = message ? $(`[data-message="${CSS.escape(message)}"]`) : webhook ? $(`tr[data-webhook="${CSS.escape(webhook)}"]`) : null;
  if (!holder) return null;
  return (key && $(`[data-key="${CSS.escape(key)}"]`, holder)) || holder;
}

// The status line says what happened, not only the HTTP status: a test send answers 200 even
// when the endpoint failed, and that is a failure to the user.
function verdict(method, { status, answer, ok, retryAfter }) {
  const head = method + " → " + (status || "no answer");
  if (status === 429) return { ok: false, text: head + " · rate limited: try again in " + (retryAfter || "a few") + " s" };
  if (!ok || method !== "webhook.test") return { ok, text: head };
  const code = answer.statusCode;
  if (code !== null && code >= 200 && code < 300) return { ok: true, text: `${head} · the endpoint answered ${code} in ${answer.durationMs} ms` };
  return { ok: false, text: `${head} · the test failed: ` + (code === null ? answer.error || "no answer" : `the endpoint answered ${code}`) };
}

function show(method, result, { jump = false } = {}) {
  const { ok, text } = verdict(method, result);
  const line = $("#status");
  line.textContent = text;
  line.className = "status " + (ok ? "ok" : "bad");
  $("#answer").textContent = JSON.stringify(result.answer, null, 2);
  if (jump && window.matchMedia("(max-width: 760px)").matches) $("#answer-title").scrollIntoView({ block: "start" });
}

function when(seconds) {
  if (!seconds) return "";
  const d = new Date(Number(seconds) * 1000), pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function timeOf(seconds) {
  return seconds ? el("time", { datetime: new Date(Number(seconds) * 1000).toISOString(), text: when(seconds) }) : "";
}

// Copy `text`; without clipboard access, select it for the reader to copy: `target` is what
// shows it (an element, or an input whose value is the text).
async function copyText(button, text, target) {
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    if (target instanceof HTMLInputElement) {
      target.hidden = false;
      target.focus();
      target.select();
    } else {
      const range = document.createRange();
      range.selectNodeContents(target);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
    }
    button.textContent = "Selected: press Ctrl+C";
  }
  clearTimeout(button.resetTimer);
  button.resetTimer = setTimeout(() => { button.textContent = label; }, 2500);
}

// A one-time secret (or token), shown right after `place`, where it was made: its Copy button is
// the next stop of the keyboard. Only one is shown at a time.
function showSecret(title, value, place, note = "", copyLabel = "Copy secret") {
  $("#secret")?.remove();
  const shown = el("code", { id: "secret-value", text: value });
  const copy = el("button", { type: "button", id: "copy-secret", text: copyLabel,
    onclick: (e) => copyText(e.currentTarget, value, shown) });
  const box = el("div", { id: "secret", class: "secret", role: "alert" },
    el("p", {}, el("strong", { text: title }), ": copy it now. It will not be shown again."),
    note ? el("p", { class: "secret-note", text: note }) : null,
    el("div", { class: "secret-row" }, shown, copy));
  place.after(box);
  return box;
}

// An ed25519 webhook's public key (contract, section 19), shown where it was made, in the place
// of a secret: it is not one, and says so. It stays in the webhook's view.
function showPublicKey(title, value, place, note = "") {
  $("#secret")?.remove();
  const shown = el("code", { id: "public-key-value", text: value });
  const copy = el("button", { type: "button", id: "copy-public-key", text: "Copy public key",
    onclick: (e) => copyText(e.currentTarget, value, shown) });
  const box = el("div", { id: "secret", class: "secret public", role: "status" },
    el("p", {}, el("strong", { text: title }), ": not a secret. Receivers verify this webhook's deliveries (v1a signatures) " +
      "with it alone, so it can be published or pasted into any receiver's settings; it cannot sign. The webhook's view shows it too."),
    note ? el("p", { class: "secret-note", text: note }) : null,
    el("div", { class: "secret-row" }, shown, copy));
  place.after(box);
  return box;
}

// What webhook.create or webhook.rotateSecret made: a secret shown once, or a public key.
function showMade(answer, place, rotated) {
  const overlap = "For 24 hours every delivery carries two signatures, the new one first: ";
  if (answer.secret) {
    return showSecret(rotated ? "New signing secret" : "Signing secret", answer.secret, place,
      rotated ? overlap + "switch your receiver to the new secret within that time." : "");
  }
  if (answer.publicKey) {
    return showPublicKey(rotated ? "New public key" : "Public key", answer.publicKey, place,
      rotated ? overlap + "give your receivers the new public key within that time; the previous one verifies until then." : "");
  }
  return null;
}

function hideSecret() {
  $("#secret")?.remove();
}

// ---- The session: token, level and owner ---------------------------------------------------

function setFieldError(input, note, message) {
  if (message) {
    input.setAttribute("aria-invalid", "true");
    note.textContent = message;
  } else {
    input.removeAttribute("aria-invalid");
    note.textContent = "";
  }
}

function tokenRefused(answer) {
  // The page says where a token comes from: on the local run, from make run (see index.html).
  const message = "The service does not know this token" + (answer?.error?.message ? ` (${answer.error.message})` : "") +
    ". " + ($("#token-refused-help")?.textContent || "");
  setFieldError($("#token"), $("#token-error"), message);
  $("#hooks").hidden = true;
  hooksNote("The token was refused: correct it above, then load the webhooks.");
}

function hooksNote(text, { focus = false } = {}) {
  const note = $("#hooks-empty");
  note.textContent = text;
  note.hidden = !text;
  if (focus) note.focus();
}

function applyLevel() {
  const level = session.level.get(), company = level === "company";
  $("#level").value = level;
  $("#owner-label").textContent = company ? "Company" : "Event";
  $("#event").placeholder = company ? "companyID" : "eventID";
  $("#event").value = ownerOf(level).get();  // this level's own ID, never the other level's
  $("#hooks-title").textContent = company ? "Webhooks of the company" : "Webhooks of the event";
  if (state.view?.kind === "types") showTypes({ focus: false });
}

async function loadWebhooks({ announce = true, userAsked = false } = {}) {
  const owner = $("#event").value.trim();
  const level = session.level.get();
  if (!session.token.get()) {
    setFieldError($("#token"), $("#token-error"), "Enter a token first.");
    if (userAsked) $("#token").focus();
    return;
  }
  if (!owner) {
    setFieldError($("#event"), $("#event-error"), `Enter the ${level} whose webhooks to load.`);
    if (userAsked) $("#event").focus();
    return;
  }
  const result = await call("webhook.find", { [ownerField()]: owner }, { quiet: !announce });
  const table = $("#hooks");
  if (result.status === 401) { if (userAsked) $("#token").focus(); return result; }
  if (result.status !== 0 && !result.answer?.error?.code?.startsWith("not_json")) setFieldError($("#token"), $("#token-error"), "");
  if (!result.ok) {
    table.hidden = true;
    $("#hook-filters").hidden = true;
    $("#hooks-count").textContent = "";
    const message = errorText(result);
    // Only a refusal of the event or company is the Event field's fault: an unreachable
    // service or a failing gateway is said as what it is.
    const fieldsFault = ["eventID", "companyID"].includes(result.answer?.error?.field) || [403, 404].includes(result.status);
    setFieldError($("#event"), $("#event-error"), fieldsFault ? message : "");
    hooksNote(`The webhooks of ${level} ${owner} could not be loaded. ${message}`);
    if (userAsked) (fieldsFault ? $("#event") : $("#hooks-empty")).focus();
    return result;
  }
  setFieldError($("#event"), $("#event-error"), "");
  const moved = !state.loaded || state.loaded.level !== level || state.loaded.owner !== owner;
  if (moved) {
    state.stats = new Map();
    $("#hook-filters").reset();  // another event's list starts unfiltered
  }
  state.loaded = { level, owner };
  state.hooks = new Map(result.answer.data.map((hook) => [hook.webhookID, hook]));
  if (state.view?.kind === "log") drawSettings();  // changed by a method, or by a colleague meanwhile
  $("#hooks-title").textContent = `Webhooks of ${level} ${owner}`;
  describeListTypes();
  const body = $("tbody", table);
  await keepPlace(() => {
    body.replaceChildren(...result.answer.data.map(webhookRow));
    table.hidden = result.answer.count === 0;
    $("#hook-filters").hidden = result.answer.count === 0;
    hooksNote(result.answer.count === 0 ? `This ${level} has no webhooks yet: create one with webhook.create.` : "");
    applyListFilters();
  });
  // A newly loaded event or company is what every method's form works on from now on, over an
  // ID typed there before (that typed ID would make a webhook somewhere the list does not show).
  for (const form of $$("#methods form.method-form")) prefill(form, { loadedNow: moved });
  if (state.view?.stopped) resumeView();
  if (!state.types) loadTypes();
  // The health lines make rows taller as they come: each keeps the place of what the reader
  // looks at then (a view opened from a link meanwhile included).
  const health = fillHealth(result.answer.data.map((hook) => hook.webhookID));
  if (state.link) openLink();
  else setLink();
  await health;
  return result;
}

// ---- The webhooks table: searchable, one keyboard stop a row --------------------------------

function actionButton(label, id, handler, extra = {}) {
  return el("button", { type: "button", class: "quiet", text: label, "aria-label": label + " " + id, onclick: handler,
    tabindex: "-1", ...extra });
}

// A row's buttons are one stop of the Tab key (a toolbar: the arrow keys, Home and End move
// between them), so that 200 webhooks are 200 stops, not 1,400.
function rovingToolbar(bar) {
  const items = () => $$(":scope > button", bar);
  bar.addEventListener("focusin", (event) => {
    if (event.target.parentElement !== bar) return;
    for (const item of items()) item.tabIndex = item === event.target ? 0 : -1;
  });
  bar.addEventListener("keydown", (event) => {
    const list = items(), at = list.indexOf(document.activeElement);
    if (at < 0) return;
    const to = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0, End: list.length - 1 }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    list[(to + list.length) % list.length].focus();
  });
  const first = items()[0];
  if (first) first.tabIndex = 0;
  return bar;
}

function levelOf(hook) {
  return hook.companyID !== undefined ? "company" : "event";
}

function webhookRow(hook) {
  const id = hook.webhookID;
  const idCode = el("code", { class: "nowrap", text: id });
  const enabled = hook.status === "enabled";
  const toggle = actionButton(enabled ? "Disable" : "Enable", id, () => setStatus(id, enabled ? "webhook.disable" : "webhook.enable"), { "data-key": "toggle" });
  const level = levelOf(hook) === "company" ? "company " + hook.companyID : "event " + hook.eventID;
  const cached = state.stats.get(id);
  return el("tr", { "data-webhook": id },
    el("td", {},
      hook.description ? el("div", { class: "description", text: hook.description }) : null,
      el("div", { class: "mono url", text: endpointText(hook) }),
      el("div", { class: "id-line" }, idCode)),
    el("td", {}, el("span", { class: "types", text: typesText(hook, { short: true }) }), el("div", { class: "muted-small", text: level })),
    el("td", {}, timeOf(hook.date)),
    el("td", { class: "health-cell" }, el("span", { class: "badge " + hook.status, text: hook.status }),
      el("div", { class: "health" }, ...(cached ? healthNodes(cached.stats) : ["…"]))),
    el("td", {}, rovingToolbar(el("div", { class: "actions", role: "toolbar", "aria-label": "Actions for " + id },
      actionButton("Log", id, () => showLog(id), { "data-key": "log" }),
      isPull(hook) ? null : actionButton("Test", id, (e) => testWebhook(id, e.currentTarget), { "data-key": "test" }),
      toggle,
      actionButton("Examples", id, () => showExamples(id), { "data-key": "examples" }),
      actionButton("Copy", id, (e) => copyText(e.currentTarget, id, idCode), { "data-key": "copy", title: "Copy the webhookID" }),
      actionButton("Use", id, () => useWebhook(id), { "aria-label": `Use ${id} in the methods`, "data-key": "use",
        title: "Put the webhookID in every method's form" }),
      actionButton("Remove", id, (e) => confirmRemove(e.currentTarget, id), { "data-key": "remove" }))),
    outcomeNode(id)));
}

// The types a webhook takes (contract, section 17): its `types`, or the one `type` of an API
// before them. ["*"] takes every type of its level, those the catalog gains later too.
function hookTypes(hook) {
  return hook.types?.length ? hook.types : [hook.type];
}

// Section 18: a pull webhook has no url; its messages wait to be read with webhook.poll.
const isPull = (hook) => hook?.delivery === "pull";

// Where a webhook's messages go, in words: its URL, or its being read by polls.
function endpointText(hook) {
  return isPull(hook) ? "pull: read with webhook.poll" : hook.url;
}

const ALL_TYPES = "*";
const takesAll = (hook) => hookTypes(hook).includes(ALL_TYPES);

// The catalog's types at `level` (null: every level), in catalog order; before the catalog is
// read, every type the OpenAPI document names.
function levelTypes(level) {
  if (!state.types) return state.typeNames;
  return state.types.filter((t) => !level || t.levels.includes(level)).map((t) => t.type);
}

// The types a webhook's messages can be of: "*" read as every type of its level.
function typesOf(hook) {
  return takesAll(hook) ? levelTypes(levelOf(hook)) : hookTypes(hook);
}

// A webhook's types in words; `short`, in the list: the first few and how many more (the view
// shows them all, and the list's search finds every one).
function typesText(hook, { short = false } = {}) {
  if (takesAll(hook)) return short ? "all types (*)" : `all types of the ${levelOf(hook)} level (*), those the catalog gains later too`;
  const types = hookTypes(hook);
  if (!short || types.length <= 3) return types.join(", ");
  return `${types.slice(0, 2).join(", ")} and ${types.length - 2} more (${types.length} types)`;
}

// Whether `method` takes `param`, as the OpenAPI document says (the console follows the API it is served with).
function methodTakes(method, param) {
  return Boolean(state.methods.find((m) => m.name === method)?.fields.some((f) => f.name === param));
}

// A choice of types (section 17): "All types" (*), standing alone, and each type of the catalog
// (at `level`, or every level with the company-only ones said). A change fires "change" on the
// fieldset; `value()` is ["*"], the types chosen in catalog order, or [].
function typesPicker(id, chosen, { legend = "Types", hint = "", level = null, legendClass = "" } = {}) {
  const describe = (name) => {
    const type = (state.types || []).find((t) => t.type === name);
    return type ? (level ? `${name} — ${type.description}` : typeLabel(type)) : name;
  };
  const all = el("input", { type: "checkbox", id: `${id}-all`, "data-type": ALL_TYPES, checked: chosen.includes(ALL_TYPES),
    "aria-describedby": `${id}-all-hint` });
  const names = levelTypes(level);
  const boxes = names.map((name) => el("input", { type: "checkbox", id: `${id}-${name}`, "data-type": name,
    checked: chosen.includes(name), disabled: chosen.includes(ALL_TYPES) }));
  const count = el("span", { class: "field-hint", id: `${id}-count` });
  const fieldset = el("fieldset", { class: "field types-field", "data-field": "types", id, "aria-describedby": `${id}-hint ${id}-error` },
    el("legend", { class: legendClass, text: legend }),
    hint ? el("span", { class: "field-hint", id: `${id}-hint`, text: hint }) : null,
    el("div", { class: "choice" }, all, el("label", { for: all.id, text: "All types (*)" }),
      el("span", { class: "field-hint", id: `${id}-all-hint`, text: "Every type of the webhook's level, those the catalog gains later too." })),
    el("div", { class: "types-list" }, ...boxes.map((box) => el("div", { class: "choice" }, box,
      el("label", { for: box.id, text: describe(box.dataset.type) })))),
    count,
    el("span", { class: "field-error", id: `${id}-error`, "aria-live": "polite" }));
  const value = () => (all.checked ? [ALL_TYPES] : boxes.filter((box) => box.checked).map((box) => box.dataset.type));
  const counted = () => {
    const n = value();
    count.textContent = all.checked ? "All types." : `${n.length} of ${boxes.length} chosen.`;
  };
  fieldset.addEventListener("change", (event) => {
    if (event.target === all) for (const box of boxes) box.disabled = all.checked;
    counted();
  });
  fieldset.value = value;
  fieldset.clear = () => { all.checked = false; for (const box of boxes) { box.checked = false; box.disabled = false; } counted(); };
  counted();
  return fieldset;
}

function rateLine(stats) {
  const finished = stats.delivered + stats.failed;
  return `${Math.round(stats.successRate * 1000) / 10}% delivered (${stats.delivered} of ${finished}${stats.pending ? " finished" : ""})`;
}

// Messages still pending count in no rate: said beside it, so that a rate of 100% next to a
// failing endpoint with its replays under way reads as what it is.
function pendingNote(stats) {
  return `${stats.pending} pending, not counted until ${stats.pending === 1 ? "it finishes" : "they finish"}`;
}

function healthLines(stats) {
  if (isPull(state.hooks.get(stats.webhookID))) return pullLines(stats);
  const lines = [];
  if (stats.status === "disabled") {
    lines.push({ text: stats.disabledReason ? "Disabled by the service: " + stats.disabledReason : "Disabled by hand", bad: true });
  }
  if (stats.successRate === null) lines.push({ text: stats.window ? "no finished message yet" : "no messages yet" });
  else lines.push({ text: rateLine(stats), bad: stats.successRate < 0.9 });
  if (stats.p50DurationMs !== null) lines.push({ text: `latency p50 ${stats.p50DurationMs} ms · p95 ${stats.p95DurationMs} ms` });
  lines.push({ text: stats.lastSuccessDate ? "last success " + when(stats.lastSuccessDate) : "no success yet" });
  if (stats.failingSince) lines.push({ text: "failing since " + when(stats.failingSince), bad: true });
  if (stats.heldToShare) lines.push({ text: heldLine(stats.heldToShare), bad: true });
  if (stats.pending) lines.push({ text: pendingNote(stats) });
  if (stats.skipped) lines.push({ text: `${stats.skipped} skipped while disabled` });
  return lines;
}

// A pull webhook's health (section 18): what polls have read, and what waits for them.
function pullLines(stats) {
  const lines = [];
  if (stats.status === "disabled") lines.push({ text: "Disabled: what is dispatched meanwhile is skipped, not kept for polls", bad: true });
  if (!stats.window) lines.push({ text: "no messages yet" });
  else lines.push({ text: `${stats.delivered} read by polls` + (stats.pending ? ` · ${stats.pending} waiting to be polled` : "") });
  if (stats.skipped) lines.push({ text: `${stats.skipped} skipped while disabled` });
  return lines;
}

function healthNodes(stats) {
  return healthLines(stats).map((line) => el("div", { class: line.bad ? "bad-text" : "", text: line.text }));
}

// What the list's health filter sorts a webhook into, from its latest stats.
function healthKind(stats) {
  if (!stats) return null;
  if (stats.heldToShare) return "held";
  if (stats.status === "disabled" || stats.failingSince || (stats.successRate !== null && stats.successRate < 0.9)) return "failing";
  if (!stats.window) return "unused";
  return "healthy";
}

// A row's health, drawn from `stats` (the latest answer, however it was read: the list's own
// read, or the open view's refresh), with the place of what the reader looks at kept.
function showHealth(webhookID, stats) {
  state.stats.set(webhookID, { stats, at: Date.now() });
  const cell = $(`tr[data-webhook="${CSS.escape(webhookID)}"] .health`);
  if (cell) holdPlace(() => cell.replaceChildren(...healthNodes(stats)));
  if ($("#hook-health")?.value) applyListFilters();
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
let healthSlot = 0;  // when the next of the list's health reads may start (ms)

// Read the health of `webhookIDs` not read in the last minute, a few at a time and at most
// HEALTH_READS_PER_SECOND, the rows on screen first; a rate-limited read waits as long as the
// service asks, and is tried again.
async function fillHealth(webhookIDs, { force = false } = {}) {
  const loaded = state.loaded;
  const due = webhookIDs.filter((id) => force || !(Date.now() - (state.stats.get(id)?.at || 0) < HEALTH_FRESH_MS));
  const rowOf = (id) => $(`tr[data-webhook="${CSS.escape(id)}"]`);
  const seen = new Set(due.filter((id) => rowOf(id) && onScreen(rowOf(id))));
  due.sort((a, b) => Number(!seen.has(a)) - Number(!seen.has(b)));
  const worker = async () => {
    while (due.length && state.loaded === loaded) {
      const webhookID = due.shift();
      const start = Math.max(Date.now(), healthSlot);
      healthSlot = start + 1000 / HEALTH_READS_PER_SECOND;
      if (start > Date.now()) await sleep(start - Date.now());
      const result = await call("webhook.stats", { webhookID }, { quiet: true });
      if (state.loaded !== loaded) return;
      if (result.status === 429) {
        due.unshift(webhookID);
        await sleep(1000 * Math.max(1, Number(result.retryAfter) || 1));
      } else if (result.ok) {
        showHealth(webhookID, result.answer);
      } else {
        const cell = rowOf(webhookID)?.querySelector(".health");
        if (cell) holdPlace(() => { cell.textContent = "health unknown"; });
      }
    }
  };
  await Promise.all(Array.from({ length: HEALTH_READS_AT_ONCE }, worker));
}

// ---- Searching and filtering the list ------------------------------------------------------

function describeListTypes() {
  const select = $("#hook-type"), chosen = select.value;
  const names = [...new Set([...state.hooks.values()].flatMap(typesOf))];
  const order = levelTypes(null);
  names.sort((a, b) => order.indexOf(a) - order.indexOf(b));
  select.replaceChildren(el("option", { value: "", text: "any type" }), ...names.map((n) => el("option", { value: n, text: n })));
  select.value = names.includes(chosen) ? chosen : "";
}

// Show the rows that match the search (description, URL, webhookID or type) and the filters.
function applyListFilters() {
  const text = $("#hook-search").value.trim().toLowerCase();
  const status = $("#hook-status").value, type = $("#hook-type").value, health = $("#hook-health").value;
  let shown = 0, unknown = 0;
  for (const tr of $$("#hooks tbody tr")) {
    const hook = state.hooks.get(tr.dataset.webhook);
    if (!hook) continue;
    const words = [hook.description || "", hook.url || "", hook.webhookID, ...hookTypes(hook),
      takesAll(hook) ? "all types" : "", isPull(hook) ? "pull" : ""].join("\n").toLowerCase();
    const kind = healthKind(state.stats.get(hook.webhookID)?.stats);
    if (health && kind === null) unknown += 1;
    const match = (!text || words.includes(text)) && (!status || hook.status === status) &&
      (!type || typesOf(hook).includes(type)) && (!health || kind === health);
    tr.hidden = !match;
    shown += match;
  }
  const total = state.hooks.size;
  const filtered = text || status || type || health;
  $("#hooks-count").textContent = !total ? "" : !filtered ? `${total} webhook${total === 1 ? "" : "s"}.`
    : `Showing ${shown} of ${total} webhooks` + (unknown ? ` (reading the health of ${unknown} more)` : "") + ".";
}

// ---- A row's actions ------------------------------------------------------------------------

function focusRowButton(webhookID, key) {
  const button = $(`tr[data-webhook="${CSS.escape(webhookID)}"] [data-key="${key}"]`);
  if (button) button.focus();
  return button;
}

function rowSay(webhookID, text, ok) {
  say($(`tr[data-webhook="${CSS.escape(webhookID)}"] [data-outcome]`), text, ok);
}

async function setStatus(webhookID, method) {
  const result = await call(method, { webhookID });
  state.stats.delete(webhookID);
  await loadWebhooks({ announce: false });
  focusRowButton(webhookID, "toggle");
  const done = method === "webhook.disable" ? "Disabled: nothing is sent to it until it is enabled again." : "Enabled: deliveries resume.";
  rowSay(webhookID, result.ok ? done : errorText(result), result.ok);
  if (state.view?.webhookID === webhookID && state.view.kind === "log") refreshView();
}

function confirmRemove(button, webhookID) {
  const actions = button.closest(".actions");
  const before = [...actions.children];
  const cancel = () => { actions.replaceChildren(...before); focusRowButton(webhookID, "remove"); };
  const no = el("button", { type: "button", class: "quiet", text: "Cancel", "aria-label": "Keep " + webhookID, onclick: cancel });
  const yes = el("button", { type: "button", class: "danger", text: "Remove it", "aria-label": "Confirm: remove " + webhookID,
    onclick: () => removeWebhook(webhookID) });
  const box = el("div", { class: "confirm", role: "group", "aria-label": "Remove " + webhookID + "?" },
    el("span", { text: "Remove this webhook? Nothing more will be sent to it." }), yes, no);
  box.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); cancel(); } });
  actions.replaceChildren(box);
  no.focus();
}

async function removeWebhook(webhookID) {
  const result = await call("webhook.remove", { webhookID });
  if (result.ok) forgetWebhook(webhookID);
  await loadWebhooks({ announce: false });
  if (result.ok) hooksNote(`Removed ${webhookID}.` + ($("#hooks").hidden ? " No webhooks are left." : ""), { focus: true });
  else focusRowButton(webhookID, "remove");
}

function forgetWebhook(webhookID) {
  if (state.view?.webhookID === webhookID) closeDetail({ focus: false });
  if (session.webhook.get() === webhookID) session.webhook.set("");
  state.stats.delete(webhookID);
}

function useWebhook(webhookID) {
  session.webhook.set(webhookID);
  for (const input of $$('#methods input[name="webhookID"]')) input.value = webhookID;
  hooksNote(`${webhookID} is now in the webhookID field of every method.`);
}

function testOutcome(result) {
  if (!result.ok) return { ok: false, text: "Test not sent: " + errorText(result) };
  const code = result.answer.statusCode;
  if (code !== null && code >= 200 && code < 300) return { ok: true, text: `Test sent: the endpoint answered ${code} in ${result.answer.durationMs} ms.` };
  return { ok: false, text: "Test failed: " + (code === null ? result.answer.error || "no answer" : `the endpoint answered ${code}.`) };
}

// A button busy with a call that may take as long as the delivery timeout: it says so, and
// cannot be pressed again meanwhile (aria-disabled keeps it focusable).
async function busy(button, label, work) {
  const before = button.textContent;
  button.textContent = label;
  button.setAttribute("aria-busy", "true");
  button.setAttribute("aria-disabled", "true");
  try {
    return await work();
  } finally {
    button.textContent = before;
    button.removeAttribute("aria-busy");
    button.removeAttribute("aria-disabled");
  }
}

async function testWebhook(webhookID, button) {
  if (button?.getAttribute("aria-busy") === "true") return;
  rowSay(webhookID, "Sending a test to the endpoint… (it has up to the delivery timeout to answer)", true);
  const send = () => call("webhook.test", { webhookID });
  const result = button ? await busy(button, "Testing…", send) : await send();
  const { ok, text } = testOutcome(result);
  rowSay(webhookID, text, ok);
  if (!result.ok) return;
  // The test send is in the delivery log: show it there.
  if (state.view?.kind === "log" && state.view.webhookID === webhookID) await refreshView();
  else await showLog(webhookID, { focus: false });
  fillHealth([webhookID], { force: true });
}

// ---- The webhook area: one view at a time (log, message, trace, examples, types) -----------

// Where the focus goes when a view closes: the control of the list that opened that kind of
// view (found anew: the list may have been drawn again meanwhile), else the list's heading.
function closedViewFocus(view) {
  const row = view.webhookID && $(`tr[data-webhook="${CSS.escape(view.webhookID)}"]`);
  const place = { log: row && $('[data-key="log"]', row), message: row && $('[data-key="log"]', row),
    examples: row && $('[data-key="examples"]', row), trace: $("#find-message-id"), types: $("#show-types") }[view.kind];
  if (place && !place.closest("[hidden]")) return place;
  if (view.opener && document.contains(view.opener) && !$("#detail").contains(view.opener)) return view.opener;
  return $("#hooks-title");
}

function closeDetail({ focus = true } = {}) {
  const view = state.view;
  state.view = null;
  const detail = $("#detail");
  detail.hidden = true;
  detail.replaceChildren();
  setLink();
  if (focus && view) closedViewFocus(view).focus();
}

// A view's heading: what it is, and the endpoint's URL on lines of its own that stop after two
// (the whole URL is said to screen readers, and shown in the view's settings).
function titleNodes(title) {
  const text = typeof title === "string" ? title : title.text;
  // IDs in a smaller monospace that does not break: "Webhook wh_..." fits a phone's line.
  const parts = text.split(/((?:wh|msg)_[0-9A-Za-z]+)/).filter(Boolean)
    .map((part) => (/^(wh|msg)_/.test(part) ? el("span", { class: "title-id", text: part }) : part));
  return typeof title === "string" ? parts : [...parts, el("span", { class: "title-url", text: title.url, title: title.url })];
}

function titleText(title) {
  return typeof title === "string" ? title : title.text + title.url;
}

function openDetail(view, title, { focus = true } = {}) {
  const opener = state.view?.opener || (document.activeElement !== document.body ? document.activeElement : null);
  state.view = { ...view, opener };
  const detail = $("#detail");
  const heading = el("h3", { id: "detail-title", tabindex: "-1" }, ...titleNodes(title));
  const shareable = ["log", "message", "trace"].includes(view.kind);
  // Without clipboard access, Copy link selects the link itself, shown in this field.
  const linkText = el("input", { id: "link-text", class: "link-text", readonly: true, hidden: true, "aria-label": "Link to this view" });
  detail.replaceChildren(...[el("div", { class: "detail-head" }, heading,
    el("div", { class: "row" },
      shareable ? el("button", { type: "button", class: "quiet", text: "Copy link", "aria-label": "Copy a link to this view",
        onclick: (e) => { linkText.value = location.href; copyText(e.currentTarget, location.href, linkText); } }) : null,
      el("button", { type: "button", class: "quiet", text: "Close", "aria-label": "Close " + titleText(title), onclick: () => closeDetail() }))),
  shareable ? linkText : null,
  // What changes while the reader is further down (new messages, a refused token) is said in
  // this bar, which stays at the top of the screen while the view is on it.
  el("div", { class: "view-bar", role: "status", "aria-live": "polite" })].filter(Boolean));  // a null would show as "null"
  detail.setAttribute("role", "region");
  detail.setAttribute("aria-labelledby", "detail-title");
  detail.hidden = false;
  setLink();
  if (focus) {
    // The view comes into view from its top, whatever was on screen when it opened.
    heading.focus({ preventScroll: true });
    detail.scrollIntoView({ block: "start" });
  }
  return detail;
}

// ---- Shareable places: #event=1234&webhook=wh_...&message=msg_... (or &trace=msg_...) -----

function setLink() {
  const params = new URLSearchParams();
  if (state.loaded) params.set(state.loaded.level, state.loaded.owner);
  const view = state.view;
  if (view && (view.kind === "log" || view.kind === "message")) params.set("webhook", view.webhookID);
  if (view && view.kind === "message") params.set("message", view.messageID);
  if (view && view.kind === "trace") params.set("trace", view.messageID);
  const hash = params.toString() ? "#" + params : "";
  if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname + location.search);
}

// Read a link's fragment: the level and owner go in the session fields, the view waits for
// the webhooks to load (with the reader's own token).
function readLink() {
  const params = new URLSearchParams(location.hash.slice(1));
  const level = params.has("company") ? "company" : params.has("event") ? "event" : null;
  if (!level) return false;
  session.level.set(level);
  ownerOf(level).set(params.get(level));
  applyLevel();
  state.link = params.get("webhook") ? { webhookID: params.get("webhook"), messageID: params.get("message") }
    : params.get("trace") ? { trace: params.get("trace") } : null;
  if (!session.token.get()) {
    const what = state.link && (state.link.trace || state.link.messageID || state.link.webhookID);
    hooksNote(what ? `Enter your token to open ${what}, from the link.`
      : `Enter your token to load the webhooks of ${level} ${params.get(level)}, from the link.`);
    return false;
  }
  return true;
}

function openLink() {
  const link = state.link;
  state.link = null;
  if (!link) return;
  if (link.trace) findMessage(link.trace);
  else if (link.messageID) showMessage(link.webhookID, link.messageID);
  else showLog(link.webhookID);
}

// ---- The webhook view: its settings, test sends, secret, health and delivery log ---------

function hookTitle(webhookID, prefix) {
  const hook = state.hooks.get(webhookID);
  return hook ? { text: `${prefix}${webhookID} · `, url: endpointText(hook) } : prefix + webhookID;
}

function healthList(stats, latest) {
  if (isPull(state.hooks.get(stats.webhookID))) return pullList(stats, latest);
  const finished = stats.delivered + stats.failed;
  const rate = stats.successRate === null ? "no finished message" : `${Math.round(stats.successRate * 1000) / 10}%` +
    (stats.pending ? ` of the ${finished} finished; ${pendingNote(stats)}` : "");
  const rows = [
    ["Status", stats.status + (stats.disabledReason ? ": " + stats.disabledReason : "")],
    ["Success rate", stats.successRate === null && stats.pending ? `no finished message; ${pendingNote(stats)}` : rate],
    ["Messages", `${stats.delivered} delivered · ${stats.failed} failed · ${stats.pending} pending · ${stats.skipped} skipped (latest ${stats.window})`],
    ["Latency", stats.p50DurationMs === null ? "no attempt yet" : `p50 ${stats.p50DurationMs} ms · p95 ${stats.p95DurationMs} ms`],
    ["Last success", stats.lastSuccessDate ? when(stats.lastSuccessDate) : "none yet"],
    ["Failing since", stats.failingSince ? when(stats.failingSince) : "not failing"],
  ];
  if (stats.heldToShare) rows.push(["Share", heldLine(stats.heldToShare)]);
  const told = toldLine(stats);
  if (told) rows.push(["Told", told]);
  return rows.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { text: value })]);
}

// A pull webhook's view (section 18): where its readers are, from its latest messages (`latest`,
// newest first, as webhook.deliveries answers): the furthest message a poll has returned (a
// message is delivered when a poll first returns it, and polls return them in order), when, and
// what waits after it.
function pullList(stats, latest) {
  const read = (latest || []).find((m) => m.status === "delivered");
  const newer = read ? latest.slice(0, latest.indexOf(read)) : latest || [];
  const waiting = newer.filter((m) => m.status === "pending").length;
  const more = latest && latest.length >= PICTURE_SIZE && !read;
  const rows = [
    ["Status", stats.status === "disabled" ? "disabled: what is dispatched meanwhile is skipped, not kept for polls" : stats.status],
    ["Messages", `${stats.delivered} read by polls · ${stats.pending} waiting · ${stats.skipped} skipped (latest ${stats.window})`],
    ["Position", read ? `read up to ${read.messageID} (${read.type}, dispatched ${when(read.date)}); ` +
      (waiting ? `${waiting} newer ${waiting === 1 ? "message waits" : "messages wait"} for the next poll` : "nothing newer waits")
      : more ? `no poll has returned any of the latest ${PICTURE_SIZE} messages: they and older ones wait`
        : stats.window ? `no poll has returned a message yet: ${stats.pending} wait` : "no messages yet"],
    ["Last poll", read?.attempts?.[0] ? `${when(read.attempts[0].date)}: the latest poll that returned a message for the first time ` +
      "(a poll that finds nothing new, or reads again with an older cursor, is not recorded)" : "no poll has returned a message yet"],
  ];
  return rows.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { text: value })]);
}

// Section 16: a slow or failing endpoint is held to its share of the delivery capacity.
function heldLine(held) {
  return `held to its share since ${when(held.since)} (${held.reason}): its messages wait their turn, none is lost`;
}

// Issue 23: when the service disables a webhook, a webhookDisabled message goes to the other
// webhooks of its event (or company) of that type. Say who heard it.
function toldLine(stats) {
  if (stats.status !== "disabled" || !stats.disabledReason) return null;
  if (!(state.types || []).some((t) => t.type === "webhookDisabled")) return null;
  const hook = state.hooks.get(stats.webhookID);
  const level = hook ? levelOf(hook) : "event";
  const listeners = [...state.hooks.values()].filter((h) => typesOf(h).includes("webhookDisabled") &&
    h.webhookID !== stats.webhookID && levelOf(h) === level);
  if (!listeners.length) {
    return `No webhook of this ${level} subscribes to webhookDisabled, so no one was told; create one of that type to hear of it next time.`;
  }
  return `Its subscribers were told: a webhookDisabled notice went to this ${level}'s webhookDisabled subscribers (` +
    listeners.map((h) => `${h.webhookID} · ${endpointText(h)}`).join(", ") + ").";
}

// The webhook's settings, as its object shows them (never a secret, a header's value or a client
// secret); `template` is what webhook.requestExample says (the object does not carry it):
// undefined while it is read.
function settingsList(hook, template) {
  const filter = hook.filter && Object.keys(hook.filter).length
    ? Object.entries(hook.filter).map(([name, ids]) => `${name}: ${ids.join(", ")}`).join("; ") : "none: every message of its type";
  const copyKey = (key, which) => {
    const shown = el("code", { class: "key", text: key });
    return [shown, " ", el("button", { type: "button", class: "quiet small", text: "Copy", "data-key": "copy-" + which,
      "aria-label": `Copy the ${which === "previous-key" ? "previous " : ""}public key`, onclick: (e) => copyText(e.currentTarget, key, shown) })];
  };
  const ed25519 = hook.signature === "ed25519", pull = isPull(hook);
  const rows = [
    ["Description", hook.description || "none"],
    pull ? ["Delivery", "pull: nothing is POSTed; its messages wait, in order, to be read with webhook.poll (by a device's " +
      "token, or the relay: python -m chalicelib.listen --webhook " + hook.webhookID + ")"] : ["Endpoint", hook.url],
    [hookTypes(hook).length > 1 || takesAll(hook) ? "Types" : "Type", typesText(hook)],
    ["Signature", ed25519 ? "ed25519 (v1a): a key pair signs; receivers verify with the public key alone"
      : "hmac (v1): a shared secret signs, shown once when it was made (Rotate secret makes a new one)"],
  ];
  if (ed25519 && hook.publicKey) rows.push(["Public key", copyKey(hook.publicKey, "public-key")]);
  if (ed25519 && hook.previousPublicKey) {
    rows.push(["Previous public key", [...copyKey(hook.previousPublicKey, "previous-key"), el("div", { class: "muted-small",
      text: "Rotated out: for 24 hours after the rotation every delivery also carries its signature (after the new key's), " +
        "so receivers that still verify with it lose nothing while they switch." })]]);
  }
  if (!pull) {  // what is sent with a POST: a pull webhook has no POST
    rows.push(["Headers", hook.headers?.length ? hook.headers.join(", ") + " (values are never shown)" : "none"],
      ["Credentials", authText(hook.auth)],
      ["Rate limit", hook.rateLimit ? `${hook.rateLimit} attempts a second` : "no limit"]);
  }
  rows.push(["Filter", filter]);
  if (!pull) rows.push(["Template", templateText(template)]);  // a pull webhook's entries are the usual body
  return rows.flatMap(([name, value]) => [el("dt", { text: name }),
    typeof value === "string" ? el("dd", { text: value }) : el("dd", {}, ...value)]);
}

// Section 20: the OAuth 2.0 client an endpoint's access token comes from (never its secret).
function authText(auth) {
  if (!auth) return "none: deliveries carry no access token";
  return `OAuth 2.0 client credentials: an access token from ${auth.tokenUrl} for client ${auth.clientID}` +
    (auth.scope ? `, scope ${auth.scope}` : "") + ", sent as Authorization: Bearer (the client secret is never shown)";
}

// Section 21: what shapes the delivered body.
function templateText(template) {
  if (template === undefined) return "reading…";
  if (!template) return "none: the usual JSON body";
  if (template.preset === "slack") return "the slack preset: one readable line a message, as {\"text\": …} for a Slack incoming webhook";
  if (template.preset === "teams") return "the teams preset: one readable line in an Adaptive Card, for a Teams Workflows webhook";
  return `a Mustache template of its own, sent as ${template.contentType} (${utf8Bytes(template.body)} bytes)`;
}

const utf8Bytes = (text) => new TextEncoder().encode(text).length;

// Draw the open view's settings again (after an edit, a rotation, or the list read anew), the
// focus kept on the control that had it.
function drawSettings() {
  const view = state.view, list = $("#detail .settings-list"), hook = view && state.hooks.get(view.webhookID);
  if (!list || !hook) return;
  const signature = JSON.stringify([hook, view.template === undefined ? "reading" : view.template]);
  if (list.dataset.signature === signature) return;
  list.dataset.signature = signature;
  const focusedKey = list.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  holdPlace(() => list.replaceChildren(...settingsList(hook, view.template)), list);
  if (focusedKey) $(`[data-key="${CSS.escape(focusedKey)}"]`, list)?.focus({ preventScroll: true });
}

// The webhook's template, which its object does not show: webhook.requestExample says it.
async function readTemplate(view) {
  const result = await call("webhook.requestExample", { webhookID: view.webhookID }, { quiet: true });
  if (result.status === 401) { stopView(view); return; }
  if (!result.ok || state.view !== view) return;
  view.template = result.answer.template || null;
  drawSettings();
}

// The type filter offers what this webhook can hold: its own types and test sends.
function typeOptions(select, webhookID) {
  select.append(el("option", { value: "", text: "any type" }));
  const hook = state.hooks.get(webhookID);
  const names = hook ? typesOf(hook) : levelTypes(null);
  for (const name of [...names, "webhook.test"]) select.append(el("option", { value: name, text: name }));
}

function dayStart(value) {
  return value ? String(Math.floor(new Date(value + "T00:00:00").getTime() / 1000)) : "";
}

function dayEnd(value) {
  return value ? String(Math.floor(new Date(value + "T23:59:59").getTime() / 1000)) : "";
}

// A filter of the log with its label, and a note for what is wrong with it (said at the field).
function logFilter(label, control, { search = false } = {}) {
  control.setAttribute("aria-describedby", `${control.id}-error`);
  return el("div", { class: "filter" + (search ? " search" : "") }, el("label", { for: control.id, text: label }), control,
    el("span", { id: `${control.id}-error`, class: "field-error", "aria-live": "polite" }));
}

// The date range is checked here, at its fields: a To date before the From date reads nothing.
function datesInRange() {
  const from = $("#filter-from"), to = $("#filter-to");
  const wrong = from.value && to.value && to.value < from.value;
  setFieldError(to, $("#filter-to-error"), wrong ? "The To date must not be before the From date." : "");
  return !wrong;
}

// Whether the webhook is disabled now, by the freshest word: the view's latest stats, or the list.
function isDisabled(webhookID) {
  const stats = state.stats.get(webhookID)?.stats;
  return (stats ? stats.status : state.hooks.get(webhookID)?.status) === "disabled";
}

const REPLAY_HELP = "Sends again every failed message, and every message skipped while the webhook was disabled, " +
  "since that time (empty: since the first one kept).";

function replayHelp(webhookID) {
  return REPLAY_HELP + (isDisabled(webhookID) ? " This webhook is disabled: what is replayed is skipped again until it is enabled." : "");
}

async function showLog(webhookID, { focus = true } = {}) {
  const detail = openDetail({ kind: "log", webhookID, messages: new Map(), outcomes: new Map(), unseen: 0, generation: 0 },
    hookTitle(webhookID, "Webhook "), { focus });
  const hook = state.hooks.get(webhookID);
  const health = el("dl", { class: "health-list", "aria-label": "Health over the latest 100 messages" });
  const statusFilter = el("select", { id: "filter-status", name: "status" }, el("option", { value: "", text: "any status" }),
    ...["pending", "delivered", "failed", "skipped"].map((s) => el("option", { value: s, text: s })));
  const typeFilter = el("select", { id: "filter-type", name: "type" });
  typeOptions(typeFilter, webhookID);
  const fromFilter = el("input", { id: "filter-from", name: "from", type: "date" });
  const toFilter = el("input", { id: "filter-to", name: "to", type: "date" });
  const search = el("input", { id: "filter-message", name: "messageID", placeholder: "msg_...", spellcheck: "false", autocomplete: "off" });
  const filters = el("form", { class: "filters", "aria-label": "Filter the delivery log", novalidate: true },
    logFilter("Status", statusFilter), logFilter("Type", typeFilter), logFilter("From date", fromFilter), logFilter("To date", toFilter),
    el("div", { class: "filter search" }, el("label", { for: "filter-message", text: "Message ID" }),
      el("div", { class: "row" }, search, el("button", { type: "submit", class: "quiet", text: "Find message" })),
      el("span", { id: "filter-message-error", class: "field-error", "aria-live": "polite" })));
  search.setAttribute("aria-describedby", "filter-message-error");
  filters.addEventListener("submit", async (event) => {
    event.preventDefault();
    const searchError = $("#filter-message-error");
    const messageID = search.value.trim();
    if (!messageID) { setFieldError(search, searchError, "Enter a message ID."); search.focus(); return; }
    const result = await call("webhook.message", { webhookID, messageID }, { quiet: true });
    if (!result.ok) { setFieldError(search, searchError, errorText(result)); search.focus(); return; }
    showMessage(webhookID, messageID, result.answer);
  });
  // The filters are the service's (webhook.deliveries' status, type, from and to): a page
  // holds up to PAGE_SIZE matching messages, however far back they are.
  for (const filter of [statusFilter, typeFilter, fromFilter, toFilter]) {
    filter.addEventListener("change", () => { if (datesInRange()) reloadLog(); });
  }
  const since = el("input", { id: "replay-since", name: "since", type: "datetime-local", step: "1", "aria-describedby": "replay-all-help" });
  const replayOutcome = outcomeNode("replay-all");
  const replayAll = el("button", { type: "button", class: "quiet", text: "Replay failed and skipped",
    "aria-describedby": "replay-all-help", onclick: async () => {
      const from = since.value ? String(Math.floor(new Date(since.value).getTime() / 1000)) : "0";
      const result = await call("webhook.redeliver", { webhookID, since: from });
      const disabled = result.ok && result.answer.queued && isDisabled(webhookID);
      say(replayOutcome, !result.ok ? errorText(result) : `${result.answer.queued} message(s) queued again` +
        (since.value ? ` (since ${since.value.replace("T", " ")})` : "") +
        (disabled ? ", but this webhook is disabled: they will be skipped again. Enable it, then replay." : "."),
      result.ok && !disabled);
      refreshView();
    } });
  const editButton = el("button", { type: "button", class: "quiet", text: "Edit", "aria-expanded": "false", "aria-controls": "edit-slot",
    "aria-label": "Edit " + webhookID, "data-key": "edit", onclick: () => toggleEdit(webhookID) });
  const ed25519 = hook?.signature === "ed25519";
  const rotateButton = el("button", { type: "button", class: "quiet", text: ed25519 ? "Rotate key" : "Rotate secret",
    "aria-expanded": "false", "aria-controls": "rotate-slot", "data-key": "rotate",
    "aria-label": `Rotate the signing ${ed25519 ? "key" : "secret"} of ${webhookID}`, onclick: () => toggleRotate(webhookID) });
  const templateButton = el("button", { type: "button", class: "quiet", text: "Template", "aria-expanded": "false",
    "aria-controls": "template-slot", "aria-label": "Edit the template of " + webhookID, "data-key": "template",
    onclick: () => toggleTemplate(webhookID) });
  const testButton = el("button", { type: "button", class: "quiet", text: "Send a test", "aria-expanded": "false",
    "aria-controls": "test-slot", "aria-label": "Send a test to " + webhookID, "data-key": "send-a-test",
    onclick: () => toggleTestSend(webhookID) });
  const pull = isPull(hook);
  const deviceButton = pull ? el("button", { type: "button", class: "quiet", text: "Device token", "aria-expanded": "false",
    "aria-controls": "device-slot", "aria-label": "Make a device token for " + webhookID, "data-key": "device",
    onclick: () => toggleDeviceToken(webhookID) }) : null;
  detail.append(...[  // what a pull webhook has not is null, left out (append would write "null")
    el("div", { class: "settings-head" }, el("h4", { text: "Settings" }), editButton, pull ? null : templateButton, rotateButton,
      pull ? deviceButton : testButton),
    el("dl", { class: "settings-list", "aria-label": "Settings" }),
    outcomeNode("edit"),
    el("div", { id: "edit-slot" }),
    pull ? null : el("div", { id: "template-slot" }),
    el("div", { id: "rotate-slot" }),
    el("div", { id: pull ? "device-slot" : "test-slot" }),
    el("h4", { text: "Health" }),
    el("figure", { class: "picture-box" }, el("div", { class: "picture-slot" }),
      el("figcaption", { id: "picture-text", class: "hint", text: "Reading the latest messages…" })),
    health,
    el("h4", { text: "Delivery log" }),
    el("p", { class: "hint", text: `Newest first; it refreshes every ${REFRESH_MS / 1000} s while open.` }),
    filters,
    // A pull webhook's messages are read again by polling with an older cursor, not replayed.
    pull ? el("p", { class: "hint", text: "A poll with an older cursor returns its messages again: a pull webhook has no replay." })
      : el("div", { class: "log-actions" },
        el("div", { class: "filter" }, el("label", { for: "replay-since", text: "Replay from" }), since), replayAll,
        el("span", { id: "replay-all-help", class: "hint", text: replayHelp(webhookID) })),
    pull ? null : replayOutcome,
    el("p", { id: "log-count", class: "hint", "aria-live": "polite" }),
    el("div", { class: "messages" }),
    el("button", { type: "button", class: "quiet more", text: "Older messages", hidden: true, "data-key": "older", onclick: () => olderMessages() }),
  ].filter(Boolean));
  $(".view-bar", detail).append(
    el("button", { type: "button", class: "quiet new-messages", hidden: true, "data-key": "new-messages", onclick: showNewMessages }));
  drawSettings();
  const view = state.view;
  await Promise.all([refreshView(), pull ? null : readTemplate(view)]);
}

function logQuery(view) {
  return { webhookID: view.webhookID, status: $("#filter-status")?.value, type: $("#filter-type")?.value,
    from: dayStart($("#filter-from")?.value), to: dayEnd($("#filter-to")?.value), limit: String(PAGE_SIZE) };
}

function countLine(view) {
  const loaded = view.messages.size;
  const filtered = ["#filter-status", "#filter-type", "#filter-from", "#filter-to"].some((s) => $(s)?.value);
  $("#log-count").textContent = loaded === 0 ? (filtered ? "No message matches the filters." : "No messages yet.")
    : `${loaded} message(s)${filtered ? " match the filters" : ""}${view.cursor ? ", and older ones" : ""}.`;
}

function reloadLog() {
  const view = state.view;
  if (!view || view.kind !== "log") return;
  view.messages = new Map();
  view.unseen = 0;
  $("#detail .messages").replaceChildren();
  $("#detail .new-messages").hidden = true;
  view.loaded = false;
  view.generation += 1;
  refreshView();
}

function showNewMessages() {
  const view = state.view;
  view.unseen = 0;
  $("#detail .new-messages").hidden = true;
  const first = $("#detail .messages article button.link");
  if (first) { first.focus({ preventScroll: true }); first.closest("article").scrollIntoView({ block: "center" }); }
}

// Where the reader is in the log: the message that holds the focus, else the first one on
// screen once the list's top has scrolled away. Null when the reader is above the list.
function readerPlace(list) {
  const focused = list.contains(document.activeElement) ? document.activeElement.closest("article") : null;
  if (focused) return focused;
  if (list.getBoundingClientRect().top >= 0) return null;
  return [...list.children].find((article) => article.getBoundingClientRect().bottom > 0) || null;
}

// Read the first page again and merge it in: new messages on top, changed ones replaced in
// place. The focus stays where it was and what the reader looks at does not move: new
// messages above it are counted ("N new messages", in the bar at the top of the screen)
// instead.
async function refreshLog(view) {
  // An inverted date range is said at its field and reads nothing: the 3 s refresh neither (it
  // read it, and the service's refusal replaced the field's own words).
  if ($("#filter-from") && !datesInRange()) return;
  const generation = view.generation;  // reloadLog moves it on: a read under the old filters is dropped
  const [result, stats, latest] = await Promise.all([
    call("webhook.deliveries", logQuery(view), { quiet: true }),
    call("webhook.stats", { webhookID: view.webhookID }, { quiet: true }),
    call("webhook.deliveries", { webhookID: view.webhookID, limit: String(PICTURE_SIZE) }, { quiet: true }),
  ]);
  if (state.view !== view || view.generation !== generation) return;  // another view, or other filters
  if ([result, stats, latest].some((r) => r.status === 401)) { stopView(view); return; }
  if (stats.ok) {
    $("#detail .health-list").replaceChildren(...healthList(stats.answer, latest.ok ? latest.answer.data : null));
    showHealth(view.webhookID, stats.answer);  // the list's row says the same as the view
    const help = $("#replay-all-help");
    if (help) help.textContent = replayHelp(view.webhookID);
  }
  if (latest.ok) drawPicture(latest.answer.data);
  if (!result.ok) {
    const field = result.answer?.error?.field;
    const control = field && $(`#filter-${CSS.escape(field)}`);
    if (control) setFieldError(control, $(`#filter-${CSS.escape(field)}-error`), errorText(result));
    else $("#log-count").textContent = "The log could not be read: " + errorText(result);
    return;
  }
  const list = $("#detail .messages");
  const first = !view.loaded;
  if (!view.loaded) { view.cursor = result.answer.cursor; view.loaded = true; }  // older pages come from "Older messages"
  const place = first ? null : readerPlace(list);
  const focusedKey = place && place.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  const placeID = place?.dataset.message;
  const before = place ? place.getBoundingClientRect().top : 0;
  let anchor = list.firstElementChild, added = 0;
  for (const message of result.answer.data) {
    const existing = $(`article[data-message="${CSS.escape(message.messageID)}"]`, list);
    const signature = JSON.stringify(message);
    if (existing && existing.dataset.signature === signature) { anchor = existing.nextElementSibling; continue; }
    const article = messageRow(view.webhookID, message);
    view.messages.set(message.messageID, message);
    if (existing) {
      existing.replaceWith(article);
      anchor = article.nextElementSibling;
    } else {
      list.insertBefore(article, anchor);
      anchor = article.nextElementSibling;
      added += 1;
    }
  }
  if (placeID) {
    const now = $(`article[data-message="${CSS.escape(placeID)}"]`, list);
    if (now && focusedKey && !now.contains(document.activeElement)) $(`[data-key="${focusedKey}"]`, now)?.focus({ preventScroll: true });
    if (added) {
      view.unseen += added;
      const notice = $("#detail .new-messages");
      notice.textContent = `${view.unseen} new message${view.unseen === 1 ? "" : "s"}`;
      notice.hidden = false;
    }
    if (now) {
      const shift = now.getBoundingClientRect().top - before;
      if (Math.abs(shift) >= 1) window.scrollBy(0, shift);
    }
  }
  $("#detail .more").hidden = !view.cursor;
  countLine(view);
}

// A refused token (revoked, say) stops the view's refreshing, and says so in the bar that stays
// at the top of the screen, where the reader is.
function stopView(view) {
  view.stopped = true;
  const detail = $("#detail");
  if (!$("#view-stopped", detail)) {
    $(".view-bar", detail).prepend(el("p", { id: "view-stopped", class: "bad-text", role: "alert",
      text: "The token was refused (it may have been revoked): this view stopped refreshing. Enter a valid token above and load the webhooks again." }));
  }
}

function resumeView() {
  state.view.stopped = false;
  $("#view-stopped")?.remove();
  refreshView();
}

async function olderMessages() {
  const view = state.view;
  const result = await call("webhook.deliveries", { ...logQuery(view), cursor: view.cursor }, { quiet: true });
  if (state.view !== view) return;
  if (result.status === 401) { stopView(view); return; }
  if (!result.ok) { $("#log-count").textContent = "Older messages could not be read: " + errorText(result); return; }
  const list = $("#detail .messages");
  let firstNew = null;
  for (const message of result.answer.data) {
    if (view.messages.has(message.messageID)) continue;
    view.messages.set(message.messageID, message);
    const article = messageRow(view.webhookID, message);
    firstNew = firstNew || article;
    list.append(article);
  }
  view.cursor = result.answer.cursor;
  const more = $("#detail .more");
  more.hidden = !view.cursor;
  // The button goes when there is nothing older: the focus goes to the first message it brought.
  if (more.hidden && firstNew) $("button.link", firstNew).focus();
  countLine(view);
}

// ---- The health picture: the latest 100 messages, drawn by the page -------------------

function svgNode(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

// One bar a message, oldest on the left: delivered above the line, failed below it, pending
// and skipped as short marks. The caption says the same in words, for a screen reader too.
function drawPicture(messages) {
  const slot = $("#detail .picture-slot");
  if (!slot) return;
  const list = [...messages].reverse();
  const counts = { delivered: 0, failed: 0, pending: 0, skipped: 0 };
  for (const m of list) counts[m.status] = (counts[m.status] || 0) + 1;
  const bar = 6;
  const shapes = { delivered: [2, 20], failed: [24, 20], pending: [16, 8], skipped: [18, 4] };
  const picture = svgNode("svg", { viewBox: `0 0 ${PICTURE_SIZE * bar} 46`, class: "picture", role: "img",
    "aria-labelledby": "picture-text", focusable: "false", preserveAspectRatio: "none" },
  svgNode("line", { x1: 0, y1: 23, x2: PICTURE_SIZE * bar, y2: 23, class: "baseline" }),
  ...list.map((m, i) => {
    const [y, height] = shapes[m.status] || shapes.pending;
    return svgNode("rect", { x: i * bar + 1, y, width: bar - 2, height, class: "bar " + m.status });
  }));
  slot.replaceChildren(picture);
  const caption = $("#picture-text");
  if (!list.length) { caption.textContent = "No messages yet: the picture of the latest 100 is empty."; return; }
  const lastFailure = [...list].reverse().find((m) => m.status === "failed");
  caption.textContent = `The latest ${list.length} message(s), oldest on the left, from ${when(list[0].date)} to ${when(list[list.length - 1].date)}: ` +
    `${counts.delivered} delivered (bars above the line), ${counts.failed} failed (below it), ${counts.pending} pending, ${counts.skipped} skipped.` +
    (lastFailure ? ` The latest failure: ${when(lastFailure.date)}.` : "");
}

// ---- Messages ------------------------------------------------------------------------

function replayButton(webhookID, message, outcome) {
  if (isPull(state.hooks.get(webhookID))) return null;  // read again with an older cursor
  const pending = message.status === "pending";
  // aria-disabled, not disabled: a disabled button loses the keyboard focus when a replay
  // makes its message pending.
  return el("button", { type: "button", class: "quiet", text: "Replay", "aria-label": "Replay " + message.messageID, "data-key": "replay",
    "aria-disabled": pending ? "true" : false, title: pending ? "Being delivered: it can be replayed when it is finished" : false,
    onclick: async () => {
      if (message.status === "pending") return;
      const result = await call("webhook.redeliver", { webhookID, messageID: message.messageID });
      const disabled = result.ok && isDisabled(webhookID);
      const text = !result.ok ? "Replay refused: " + errorText(result) : disabled
        ? `Replay queued (${result.answer.queued}), but this webhook is disabled: it will be skipped again. Enable it, then replay.`
        : `Replay queued (${result.answer.queued}): it is sent again now.`;
      const ok = result.ok && !disabled;
      const view = state.view;
      if (view?.outcomes) view.outcomes.set(message.messageID, { text, ok });
      if (view?.kind === "message") view.outcome = { text, ok };
      say(outcome(), text, ok);
      refreshView();
    } });
}

// Section 20: an attempt that got no access token never reached the endpoint. Its error begins
// "auth:" and says what the token endpoint did; said as such, not as an endpoint that did not answer.
const noToken = (attempt) => attempt.statusCode === null && Boolean(attempt.error?.startsWith("auth:"));

// A pull webhook's one attempt is the poll that first returned the message (section 18).
function attemptAnswer(attempt, pulled = false) {
  if (pulled && attempt.statusCode === null && !attempt.error) return "returned by a poll";
  return attempt.statusCode ?? (noToken(attempt) ? "not sent: no access token" : "no answer");
}

function attemptError(attempt) {
  if (!attempt.error) return "";
  if (!noToken(attempt)) return attempt.error;
  return "The credentials failed (OAuth 2.0), so the endpoint was not called: " + attempt.error.slice("auth:".length).trim() +
    ". Check the token URL, client ID and client secret in Edit.";
}

function messageRow(webhookID, message) {
  const last = message.attempts[message.attempts.length - 1];
  const pulled = isPull(state.hooks.get(webhookID));
  const outcome = !last ? (pulled ? "not polled yet" : "not sent yet") : pulled && last.statusCode === null && !last.error
    ? `returned by a poll at ${when(last.date)}` : `${message.attempts.length} attempt(s) · last ${attemptAnswer(last)} · ${last.durationMs} ms`;
  const said = outcomeNode(message.messageID);
  const before = state.view?.outcomes?.get(message.messageID);
  if (before) say(said, before.text, before.ok);
  return el("article", { class: "message", "data-message": message.messageID, "data-signature": JSON.stringify(message) },
    el("div", { class: "message-head" },
      el("button", { type: "button", class: "link", text: message.messageID, "aria-label": "View " + message.messageID, "data-key": "view",
        onclick: () => showMessage(webhookID, message.messageID) }),
      el("span", { class: "badge " + message.status, text: message.status }),
      el("span", { text: message.type }),
      timeOf(message.date),
      el("span", { class: last && noToken(last) ? "bad-text small-text" : "muted-small", text: outcome + (last?.error ? " · " + attemptError(last) : "") }),
      message.nextAttemptDate ? el("span", { class: "muted-small", text: "next attempt " + when(message.nextAttemptDate) }) : null,
      replayButton(webhookID, message, () => $(`article[data-message="${CSS.escape(message.messageID)}"] [data-outcome]`))),
    said);
}

async function showMessage(webhookID, messageID, answer) {
  const result = answer ? { ok: true, answer } : await call("webhook.message", { webhookID, messageID }, { quiet: true });
  const detail = openDetail({ kind: "message", webhookID, messageID }, hookTitle(webhookID, `Message ${messageID} · `));
  // Where else it went: the other webhooks of the listed event or company it was queued for.
  const traceable = state.hooks.has(webhookID);
  detail.append(el("div", { class: "row" },
    el("button", { type: "button", class: "quiet", text: "Back to the log", onclick: () => showLog(webhookID) }),
    traceable ? el("button", { type: "button", class: "quiet", text: "Where it went", "aria-label": `Where ${messageID} went`,
      onclick: () => findMessage(messageID) }) : null),
  el("div", { class: "message-body" }));
  renderMessage(result);
}

// An endpoint's answer as kept: marked when the service cut it at 2 KiB; folded when it is
// long or is not the latest attempt's.
function answerBlock(attempt, latest) {
  const bytes = new TextEncoder().encode(attempt.response).length;
  const cut = bytes >= ANSWER_KEPT_BYTES - 3;  // a cut inside a UTF-8 character stops up to 3 bytes short
  const label = `Answer to attempt ${attempt.attempt}`;
  const pre = el("pre", { tabindex: "0", "aria-label": label, text: attempt.response });
  const note = cut ? el("p", { class: "cut", text: "Cut at 2 KiB: the service keeps only the first 2 KiB of an answer; the endpoint sent more." }) : null;
  const long = attempt.response.length > 400 || attempt.response.split("\n").length > 8;
  if (latest && !long) return el("div", {}, pre, note);
  return el("details", { class: "fold" },
    el("summary", { text: `${label} (${bytes} bytes${cut ? ", cut at 2 KiB" : ""})` }), pre, note);
}

function renderMessage(result) {
  const box = $("#detail .message-body");
  if (!result.ok) { box.replaceChildren(el("p", { class: "bad-text", text: errorText(result) })); return; }
  const message = result.answer;
  const signature = JSON.stringify(message);
  if (box.dataset.signature === signature) return;
  const focusedKey = box.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  const open = new Set($$("details.fold[open] summary", box).map((s) => s.textContent));
  box.dataset.signature = signature;
  const request = message.request;
  const headers = request ? Object.entries(request.headers).map(([name, value]) => `${name}: ${value}`).join("\n") : "";
  const bodyPre = el("pre", { class: "answer", tabindex: "0", "aria-label": "Body sent", text: request ? request.body : "" });
  const said = outcomeNode(message.messageID);
  if (state.view?.outcome) say(said, state.view.outcome.text, state.view.outcome.ok);
  const last = message.attempts.length - 1;
  box.replaceChildren(...[  // what a message not sent yet has not is null, left out
    el("dl", { class: "health-list" },
      el("dt", { text: "Status" }), el("dd", {}, el("span", { class: "badge " + message.status, text: message.status })),
      el("dt", { text: "Type" }), el("dd", { text: message.type }),
      el("dt", { text: "Created" }), el("dd", {}, timeOf(message.date)),
      el("dt", { text: "Webhook" }), el("dd", {}, el("code", { text: message.webhookID })),
      message.nextAttemptDate ? el("dt", { text: "Next attempt" }) : null,
      message.nextAttemptDate ? el("dd", { text: when(message.nextAttemptDate) }) : null),
    el("div", { class: "row", "data-message": message.messageID }, replayButton(message.webhookID, message, () => $("#detail .message-body [data-outcome]")),
      request ? el("button", { type: "button", class: "quiet", text: "Copy body", "data-key": "copy-body",
        onclick: (e) => copyText(e.currentTarget, request.body, bodyPre) }) : null),
    said,
    el("h4", { text: isPull(state.hooks.get(message.webhookID)) ? (request ? "What the poll that first returned it answered" : "Not polled yet")
      : request ? "What the latest attempt sent" : "Not sent yet" }),
    request ? el("h5", { text: "Headers" }) : null,
    request ? el("pre", { class: "answer", tabindex: "0", "aria-label": "Headers sent", text: headers }) : null,
    request ? el("h5", { text: "Body (exactly as sent)" }) : null,
    request ? bodyPre : null,
    el("h4", { text: "Attempts" }),
    message.attempts.length ? el("ol", { class: "attempts" }, ...message.attempts.map((a, i) => el("li", {},
      el("span", { text: `Attempt ${a.attempt} · ${when(a.date)} · ${attemptAnswer(a, isPull(state.hooks.get(message.webhookID)))} · ${a.durationMs} ms` }),
      a.error ? el("div", { class: "bad-text", text: attemptError(a) }) : null,
      a.response ? answerBlock(a, i === last) : null)))
      : el("p", { class: "hint", text: "No attempt yet." })].filter(Boolean));
  for (const summary of $$("details.fold summary", box)) if (open.has(summary.textContent)) summary.parentElement.open = true;
  if (focusedKey) $(`[data-key="${focusedKey}"]`, box)?.focus({ preventScroll: true });
}

// One read of a view at a time. A refresh asked for while a read is in flight runs once, right
// after it, and its callers wait for that one. (A read started at every tick, each dropped when
// a newer one overtook it, never landed once reads took longer than REFRESH_MS.)
function refreshView() {
  const view = state.view;
  if (!view || view.stopped) return Promise.resolve();
  view.again = Boolean(view.reading);
  view.reading ||= (async () => {
    try {
      do { view.again = false; await readView(view); } while (view.again && state.view === view && !view.stopped);
    } finally { view.reading = null; }
  })();
  return view.reading;
}

async function readView(view) {
  if (view.kind === "log") await refreshLog(view);
  if (view.kind === "trace") {
    const result = await call("webhook.trace", { messageID: view.messageID,
      [view.level === "company" ? "companyID" : "eventID"]: view.owner }, { quiet: true });
    if (result.status === 401) { stopView(view); return; }
    if (result.ok && state.view === view) renderTrace(result.answer);
  }
  if (view.kind === "message") {
    const result = await call("webhook.message", { webhookID: view.webhookID, messageID: view.messageID }, { quiet: true });
    if (result.status === 401) { stopView(view); return; }
    if (state.view === view) renderMessage(result);
  }
}

// ---- Editing a webhook: url, headers, rate limit, filter, description (webhook.update) -----

// The ID fields a filter may name: those every one of `types` carries ("*": every type of the
// level), eventID only at the company level.
function filterFields(level, types) {
  const names = types.includes(ALL_TYPES) ? levelTypes(level) : types;
  const entries = names.map((name) => (state.types || []).find((t) => t.type === name));
  if (!entries.length || entries.some((t) => !t)) return [];
  const company = level === "company";
  return entries[0].fields.filter((f) => entries.every((t) => t.fields.includes(f)) &&
    (["activityID", "personID", "speakerID"].includes(f) || (company && f === "eventID")));
}

function editField(name, label, control, hint) {
  const id = control.id;
  control.setAttribute("aria-describedby", `${id}-hint ${id}-error`);
  return el("div", { class: "field", "data-field": name }, el("label", { for: id, text: label }), control,
    el("span", { class: "field-hint", id: id + "-hint", text: hint }),
    el("span", { class: "field-error", id: id + "-error", "aria-live": "polite" }));
}

// The Edit form's filter: an input for each ID field that every type chosen (`types()`) carries,
// drawn again when the types change, keeping what was typed; a field with IDs that the types no
// longer all carry stays, said so, for the reader to empty.
function filterFieldset(hook, types) {
  const hint = el("span", { class: "field-hint", id: "edit-filter-hint" });
  const fields = el("div", { class: "filter-fields" });
  const filter = el("fieldset", { class: "field", "data-field": "filter", id: "edit-filter", "aria-describedby": "edit-filter-hint edit-filter-error" },
    el("legend", { text: "Filter" }), hint, fields, el("span", { class: "field-error", id: "edit-filter-error", "aria-live": "polite" }));
  filter.draw = () => {
    const typed = fields.firstChild ? new Map($$("textarea[data-filter]", fields).map((input) => [input.name, input.value]))
      : new Map(Object.entries(hook.filter || {}).map(([name, ids]) => [name, ids.join("\n")]));
    const allowed = filterFields(levelOf(hook), types());
    const kept = [...typed].filter(([name, value]) => !allowed.includes(name) && value.trim()).map(([name]) => name);
    hint.textContent = allowed.length ? "Only messages about these IDs reach the webhook: one ID a line (or separated by commas), " +
      "up to 100; empty: any." : `${types().length > 1 ? "These types carry" : "This type carries"} no ID in common to filter on.`;
    holdPlace(() => fields.replaceChildren(...[...allowed, ...kept].map((name) => {
      const input = el("textarea", { id: `edit-filter-${name}`, name, rows: "2", spellcheck: "false", "data-filter": name,
        "data-carried": String(allowed.includes(name)), text: typed.get(name) || "" });
      return el("div", { class: "filter-ids" }, el("label", { for: input.id,
        text: allowed.includes(name) ? name : `${name} (not carried by every type chosen: empty it)` }), input);
    })));
  };
  filter.draw();
  return filter;
}

function headerRow(name = "") {
  const n = (headerRow.count = (headerRow.count || 0) + 1);
  const row = el("div", { class: "header-row" },
    el("label", { for: `edit-header-name-${n}`, class: "visually-hidden", text: `Header ${n} name` }),
    el("input", { id: `edit-header-name-${n}`, class: "header-name", value: name, placeholder: "Authorization", spellcheck: "false", autocomplete: "off" }),
    el("label", { for: `edit-header-value-${n}`, class: "visually-hidden", text: `Header ${n} value` }),
    el("input", { id: `edit-header-value-${n}`, class: "header-value", type: "password", placeholder: "type its value", autocomplete: "new-password", spellcheck: "false" }));
  row.append(el("button", { type: "button", class: "quiet small", text: "Remove", "aria-label": `Remove header ${n}`,
    onclick: () => { const next = row.nextElementSibling || row.parentElement.querySelector("button.add-header"); row.remove(); next?.focus(); } }));
  return row;
}

// Everything the service would refuse in an edit, found here and said at each field at once
// (the service answers one refusal at a time). Returns [field, input, message] for each.
function editProblems(form, values, hook) {
  const problems = [];
  const { url, rateLimit, headers, filter, description, auth } = values;
  const urlWrong = url !== undefined && urlProblem(url);
  if (urlWrong) problems.push(["url", $("#edit-url", form), "The URL " + urlWrong]);
  if (headers !== undefined) {
    const rows = $$(".header-row", form).map((row) => ({ name: $(".header-name", row), value: $(".header-value", row) }))
      .filter(({ name, value }) => name.value.trim() || value.value);
    const seen = new Set();
    let problem = rows.length > 10 ? [rows[10].name, "At most 10 headers."] : null;
    for (const { name, value } of rows) {
      if (problem) break;
      const text = name.value.trim(), lower = text.toLowerCase();
      if (!HEADER_NAME.test(text)) problem = [name, "A header name must be 1 to 64 characters of an HTTP token (letters, digits and !#$%&'*+-.^_`|~)."];
      else if (RESERVED_HEADERS.includes(lower) || lower.startsWith("webhook-")) problem = [name, `The service sets ${text} itself: it cannot be given here.`];
      else if (seen.has(lower)) problem = [name, `${text} is named twice.`];
      else if (value.value.length > 1024 || !/^[\x20-\x7e]*$/.test(value.value)) problem = [value, `The value of ${text} must be at most 1,024 printable ASCII characters.`];
      seen.add(lower);
    }
    if (problem) problems.push(["headers", ...problem]);
  }
  if (rateLimit !== undefined && !(Number.isInteger(rateLimit) && rateLimit >= 0 && rateLimit <= 1000)) {
    problems.push(["rateLimit", $("#edit-rateLimit", form), "The rate limit must be a whole number from 1 to 1,000 (0: no limit)."]);
  }
  if (filter !== undefined) {
    const [name, ids] = Object.entries(filter).find(([, list]) => list.length > 100 || list.some((id) => id.length > 128)) || [];
    if (name) problems.push(["filter", $(`#edit-filter-${name}`, form), `${name}: at most 100 IDs of at most 128 characters each (${ids.length} given).`]);
  }
  if (description !== undefined) {
    if ([...description].length > MAX_DESCRIPTION) {
      problems.push(["description", $("#edit-description", form), `At most ${MAX_DESCRIPTION} characters (${[...description].length} given).`]);
    } else if (NOT_PRINTABLE.test(description)) {
      problems.push(["description", $("#edit-description", form), "Printable text only: no line breaks, tabs or invisible characters."]);
    }
  }
  if (values.types !== undefined && !values.types.length) {
    problems.push(["types", $("#edit-types-all", form), "Choose one type or more, or All types."]);
  }
  const uncarried = $$('textarea[data-carried="false"]', form).find((input) => input.value.trim());
  if (uncarried) {
    problems.push(["filter", uncarried, `${uncarried.name} is not an ID of every type chosen: empty it, or choose types that all carry it.`]);
  }
  problems.push(...authProblems(form, auth, headers, hook));
  return problems;
}

// What is wrong with a URL the service checks as an endpoint's (its destination checks aside,
// which only the service can make), or null.
function urlProblem(url) {
  let parsed = null;
  try { parsed = new URL(url); } catch { /* said below */ }
  if (!parsed || !["http:", "https:"].includes(parsed.protocol) || !parsed.hostname) return "must be an absolute http or https URL with a host.";
  if (parsed.username || parsed.password) return "must not hold a user name or password.";
  if (url.length > 2048) return "must be at most 2,048 characters.";
  return null;
}

// Section 20's checks of `auth` (as the Edit form would send it) beside the headers it would
// go with: the service refuses a custom Authorization header beside an access token.
function authProblems(form, auth, headers, hook) {
  const problems = [], at = (name) => $(`#edit-auth-${name}`, form);
  const headerNames = headers !== undefined ? Object.keys(headers) : hook?.headers || [];
  const authorization = headerNames.some((name) => name.trim().toLowerCase() === "authorization");
  if (auth === undefined) {
    if (hook?.auth && authorization) {
      const named = $$(".header-row .header-name", form).find((input) => input.value.trim().toLowerCase() === "authorization");
      problems.push(["headers", named, "The credentials below set Authorization with the " +
        "access token: remove the Authorization header, or remove the credentials."]);
    }
    return problems;
  }
  if (!auth.type) return problems;  // {}: removed
  const urlWrong = urlProblem(auth.tokenUrl);
  if (urlWrong) problems.push(["auth", at("tokenUrl"), "The token URL " + urlWrong]);
  if (!auth.clientID || auth.clientID.length > MAX_CLIENT_ID || !PRINTABLE_ASCII.test(auth.clientID)) {
    problems.push(["auth", at("clientID"), `The client ID must be 1 to ${MAX_CLIENT_ID} printable ASCII characters.`]);
  }
  if (!auth.clientSecret) {
    problems.push(["auth", at("clientSecret"), hook?.auth ? "Type the client secret: it is never shown back, so any change " +
      "of the credentials needs it typed anew." : "Type the client secret that the token endpoint expects."]);
  } else if (auth.clientSecret.length > MAX_CLIENT_SECRET || !PRINTABLE_ASCII.test(auth.clientSecret)) {
    problems.push(["auth", at("clientSecret"), `The client secret must be at most ${MAX_CLIENT_SECRET} printable ASCII characters.`]);
  }
  if (auth.scope !== undefined && (auth.scope.length > MAX_SCOPE || !SCOPE.test(auth.scope))) {
    problems.push(["auth", at("scope"), "The scope must be OAuth scope tokens separated by single spaces (no quotes or backslashes)."]);
  }
  if (authorization) {
    problems.push(["auth", at("oauth2"), "The access token is sent as Authorization: remove the Authorization header above, " +
      "or leave the credentials out."]);
  }
  return problems;
}

// The endpoint's OAuth 2.0 client (section 20) in the Edit form: none, or a token URL, a client
// ID, a client secret (typed anew: it is never shown back) and a scope. `value()` is what
// webhook.update is to be given: undefined when nothing changed, {} to remove the credentials.
function authFieldset(hook) {
  const current = hook.auth;
  const choice = (value, label) => el("span", { class: "choice" },
    el("input", { type: "radio", id: "edit-auth-" + value, name: "auth-kind", value, checked: (value === "oauth2") === Boolean(current) }),
    el("label", { for: "edit-auth-" + value, text: label }));
  const input = (name, label, attributes, hint) => {
    const id = "edit-auth-" + name;
    const control = el("input", { id, name, spellcheck: "false", autocomplete: "off", "aria-describedby": `${id}-hint ${id}-error`, ...attributes });
    return [control, el("div", { class: "field" }, el("label", { for: id, text: label }), control,
      el("span", { class: "field-hint", id: id + "-hint", text: hint }),
      el("span", { class: "field-error", id: id + "-error", "aria-live": "polite" }))];
  };
  const [tokenUrl, tokenUrlField] = input("tokenUrl", "Token URL", { type: "url", value: current?.tokenUrl || "",
    placeholder: "https://auth.example.com/oauth/token" }, "Where the access token is asked for: checked as the endpoint's URL is.");
  const [clientID, clientIDField] = input("clientID", "Client ID", { value: current?.clientID || "" },
    "Sent with the client secret as HTTP Basic authentication.");
  const [clientSecret, clientSecretField] = input("clientSecret", "Client secret", { type: "password", autocomplete: "new-password",
    placeholder: current ? "type it anew to change the credentials" : "" }, current
    ? "Never shown back: to change any of these, type it anew (left empty, the credentials stay as they are)."
    : "Kept as the signing secrets are, and never shown back.");
  const [scope, scopeField] = input("scope", "Scope (optional)", { value: current?.scope || "" },
    "The OAuth scopes to ask for, separated by spaces, if the token endpoint wants some.");
  const fields = el("div", { class: "auth-fields", hidden: !current }, tokenUrlField, clientIDField, clientSecretField, scopeField);
  const fieldset = el("fieldset", { class: "field", "data-field": "auth", id: "edit-auth", "aria-describedby": "edit-auth-hint edit-auth-error" },
    el("legend", { text: "Credentials" }),
    el("span", { class: "field-hint", id: "edit-auth-hint", text: "For an endpoint that asks for an OAuth 2.0 access token: before " +
      "an attempt the service gets one from the token URL with the client-credentials grant, shares it among attempts until it " +
      "expires, and sends it as Authorization: Bearer." + (current ? " Set now: " + authText(current) + "." : "") }),
    el("div", { class: "row choices" }, choice("none", "None"), choice("oauth2", "OAuth 2.0 client credentials")),
    fields,
    el("span", { class: "field-error", id: "edit-auth-error", "aria-live": "polite" }));
  fieldset.addEventListener("change", (event) => {
    if (event.target.name !== "auth-kind") return;
    fields.hidden = event.target.value !== "oauth2";
    if (!fields.hidden) tokenUrl.focus();
  });
  const value = () => {
    if ($("#edit-auth-none", fieldset).checked) return current ? {} : undefined;
    const wanted = { type: "oauth2", tokenUrl: tokenUrl.value.trim(), clientID: clientID.value, clientSecret: clientSecret.value };
    if (scope.value.trim()) wanted.scope = scope.value.trim();
    const same = current && wanted.tokenUrl === current.tokenUrl && wanted.clientID === current.clientID &&
      (wanted.scope || null) === (current.scope || null);
    return same && !wanted.clientSecret ? undefined : wanted;
  };
  return { fieldset, value };
}

async function toggleEdit(webhookID) {
  const slot = $("#edit-slot"), button = $('#detail [data-key="edit"]');
  if (slot.firstChild) { closeEdit(); return; }
  await loadTypes();  // the filter's fields are the type's IDs, read from the catalog
  const hook = state.hooks.get(webhookID);
  if (!hook || state.view?.webhookID !== webhookID || slot.firstChild) return;
  button.setAttribute("aria-expanded", "true");
  const url = el("input", { id: "edit-url", name: "url", type: "url", value: hook.url, spellcheck: "false", autocomplete: "off" });
  const description = el("input", { id: "edit-description", name: "description", value: hook.description || "",
    maxlength: String(MAX_DESCRIPTION * 2), spellcheck: "true", autocomplete: "off" });
  const rate = el("input", { id: "edit-rateLimit", name: "rateLimit", type: "number", min: "0", max: "1000", step: "1",
    value: String(hook.rateLimit || 0), inputmode: "numeric" });
  const change = el("input", { id: "edit-headers-change", type: "checkbox" });
  const rows = el("div", { class: "header-rows", hidden: true },
    ...(hook.headers || []).map((name) => headerRow(name)),
    el("button", { type: "button", class: "quiet small add-header", text: "Add a header",
      onclick: (e) => { const row = headerRow(); e.currentTarget.before(row); $("input", row).focus(); } }));
  change.addEventListener("change", () => { rows.hidden = !change.checked; if (change.checked) $("input", rows)?.focus(); });
  const headers = el("fieldset", { class: "field", "data-field": "headers", id: "edit-headers", "aria-describedby": "edit-headers-hint edit-headers-error" },
    el("legend", { text: "Headers" }),
    el("span", { class: "field-hint", id: "edit-headers-hint", text: (hook.headers?.length ? `Sent now: ${hook.headers.join(", ")}. ` : "None sent now. ") +
      "Values are never shown again: to change the headers, type every value anew (none: the headers are removed)." }),
    el("div", { class: "row" }, change, el("label", { for: "edit-headers-change", text: "Change the headers" })),
    rows,
    el("span", { class: "field-error", id: "edit-headers-error", "aria-live": "polite" }));
  // Section 17: the types can change (where the API takes them), and the filter's fields follow.
  const types = methodTakes("webhook.update", "types") ? typesPicker("edit-types", hookTypes(hook), { legend: "Types",
    level: levelOf(hook), hint: "The types of message it takes. The secret, the log and the sequence counts (one count a " +
      "subject across all its types) are kept." }) : null;
  const filter = filterFieldset(hook, () => (types ? types.value() : hookTypes(hook)));
  types?.addEventListener("change", () => filter.draw());
  const auth = authFieldset(hook);
  const pushed = !isPull(hook);  // a pull webhook has no url, nor what goes with a POST (section 18)
  const form = el("form", { id: "edit-form", class: "edit-form", novalidate: true, "aria-label": "Edit " + webhookID },
    pushed ? editField("url", "URL", url, "Checked as at creation; the secret, the log and the sequence counts are kept.") : null,
    editField("description", "Description", description, `Your own words for it, to find it in the list: up to ${MAX_DESCRIPTION} characters.`),
    types,
    pushed ? headers : null,
    pushed ? auth.fieldset : null,
    pushed ? editField("rateLimit", "Rate limit", rate, "Attempts a second, 1 to 1,000; 0: no limit. Messages held back wait their turn, in order.") : null,
    filter,
    el("div", { class: "row" }, el("button", { type: "submit", text: "Save changes" }),
      el("button", { type: "button", class: "quiet", text: "Cancel", onclick: () => closeEdit() })),
    el("div", { class: "discard", hidden: true }));
  // Only what changed is sent: an omitted field keeps its value.
  const changes = () => {
    const params = {};
    if (pushed && url.value.trim() !== hook.url) params.url = url.value.trim();
    if (description.value !== (hook.description || "")) params.description = description.value;
    if (Number(rate.value || 0) !== (hook.rateLimit || 0)) params.rateLimit = rate.value === "" ? 0 : Number(rate.value);
    if (change.checked) {
      params.headers = {};
      for (const row of $$(".header-row", rows)) {
        const name = $(".header-name", row).value.trim();
        if (name || $(".header-value", row).value) params.headers[name] = $(".header-value", row).value;
      }
    }
    if (types && JSON.stringify(types.value()) !== JSON.stringify(hookTypes(hook))) params.types = types.value();
    const wanted = {};
    for (const input of $$("textarea[data-filter]", filter)) {
      const ids = input.value.split(/[\s,]+/).filter(Boolean);
      if (ids.length) wanted[input.name] = ids;
    }
    if (JSON.stringify(wanted) !== JSON.stringify(hook.filter || {})) params.filter = wanted;
    const credentials = auth.value();
    if (credentials !== undefined) params.auth = credentials;
    return params;
  };
  form.changes = changes;
  // Escape closes the form when nothing was changed; with changes, it asks first (the view
  // stays open either way: the document's Escape is not reached).
  form.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    event.preventDefault();
    event.stopPropagation();
    if (form.querySelector(".discard").contains(event.target)) keepEditing(form);
    else closeEdit();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const params = changes();
    if (!Object.keys(params).length) { say($('#detail [data-outcome="edit"]'), "Nothing changed.", true); return; }
    const problems = editProblems(form, params, hook);
    if (problems.length) {
      for (const [field, input, message] of problems) markField(form, field, input, message);
      problems[0][1]?.focus();
      return;
    }
    const result = await call("webhook.update", { webhookID, ...params });
    if (!result.ok) { markError(form, result.answer); return; }
    state.hooks.set(webhookID, result.answer);
    closeEdit({ ask: false });
    drawSettings();
    $("#detail-title").replaceChildren(...titleNodes(hookTitle(webhookID, "Webhook ")));
    say($('#detail [data-outcome="edit"]'), "Saved: " + Object.keys(params).join(", ") + " changed.", true);
    await loadWebhooks({ announce: false });
  });
  slot.replaceChildren(form);
  (pushed ? url : description).focus();
}

// Close the Edit form; with unsaved changes, ask first (Discard them / Keep editing).
function closeEdit({ ask = true } = {}) {
  const form = $("#edit-form"), button = $('#detail [data-key="edit"]');
  if (!form) return;
  if (ask && Object.keys(form.changes()).length) { askDiscard(form, () => closeEdit({ ask: false })); return; }
  $("#edit-slot").replaceChildren();
  button.setAttribute("aria-expanded", "false");
  button.focus();
}

// A form of the view with unsaved changes asks before it closes, in its `.discard` box.
function askDiscard(form, discard) {
  const box = form.querySelector(".discard");
  // Keep editing goes back to the field the reader was in.
  if (form.contains(document.activeElement) && !box.contains(document.activeElement)) form.returnTo = document.activeElement;
  const keep = el("button", { type: "button", class: "quiet", text: "Keep editing", onclick: () => keepEditing(form) });
  box.replaceChildren(el("span", { text: "Discard the changes? They were not saved." }),
    el("button", { type: "button", class: "danger", text: "Discard them", onclick: discard }), keep);
  box.setAttribute("role", "group");
  box.setAttribute("aria-label", "Discard the changes?");
  box.hidden = false;
  keep.focus();
}

function keepEditing(form) {
  const box = form.querySelector(".discard");
  box.hidden = true;
  box.replaceChildren();
  const back = form.returnTo && form.contains(form.returnTo) && !form.returnTo.closest("[hidden]") ? form.returnTo : null;
  (back || form.querySelector("input, textarea")).focus();
}

// ---- A webhook's template, with a live preview (contract, section 21) ----------------------

// Open or close the template's form. The webhook object does not show its template:
// webhook.requestExample says it, and renders a template tried before it is saved.
async function toggleTemplate(webhookID) {
  const slot = $("#template-slot"), button = $('#detail [data-key="template"]');
  if (slot.firstChild) { closeTemplate(); return; }
  await loadTypes();  // the fields a template can name come from the type's example
  const view = state.view;
  if (view?.webhookID !== webhookID || slot.firstChild) return;
  if (view.template === undefined) await readTemplate(view);
  if (state.view !== view || slot.firstChild) return;
  if (view.template === undefined) { say($('#detail [data-outcome="edit"]'), "The template could not be read: try again.", false); return; }
  const form = templateForm(webhookID, view.template);
  slot.replaceChildren(form);
  button.setAttribute("aria-expanded", "true");
  $("input:checked", form).focus();
  form.render();
}

function closeTemplate({ ask = true } = {}) {
  const form = $("#template-form"), button = $('#detail [data-key="template"]');
  if (!form) return;
  if (ask && form.changed()) { askDiscard(form, () => closeTemplate({ ask: false })); return; }
  $("#template-slot").replaceChildren();
  button.setAttribute("aria-expanded", "false");
  button.focus();
}

// A template as webhook.update takes it, in one form for comparing ({} is none).
const templateKey = (template) => JSON.stringify(!template || !Object.keys(template).length ? {} : template.preset
  ? { preset: template.preset } : { body: template.body, contentType: template.contentType || "application/json" });

// The fields of a type's delivered body that a template can name, as {{...}} tags.
function templateTags(type) {
  const example = (state.types || []).find((t) => t.type === type)?.example;
  if (!example) return [];
  const tags = [];
  const walk = (value, path) => {
    for (const [key, inner] of Object.entries(value)) {
      if (inner && typeof inner === "object" && !Array.isArray(inner)) walk(inner, path + key + ".");
      else tags.push(`{{${path}${key}}}`);
    }
  };
  walk(example, "");
  return tags;
}

// A first template of one's own, from the type's example: every field it carries.
function starterTemplate(type, contentType) {
  const tags = templateTags(type).filter((tag) => tag !== "{{sequence}}");
  if (contentType === "text/plain") return tags.join(",");
  const name = (tag) => tag.slice(2, -2).replace(/^data\./, "");
  return "{\n" + tags.map((tag) => `  "${name(tag)}": "${tag}"`).join(",\n") + "\n}";
}

function templateForm(webhookID, current) {
  const hook = state.hooks.get(webhookID);
  const type = hook ? typesOf(hook)[0] : null;
  const kind = current?.preset || (current ? "body" : "none");
  const choice = (value, label, hint) => el("div", { class: "choice" },
    el("input", { type: "radio", id: "template-kind-" + value, name: "template-kind", value, checked: value === kind,
      "aria-describedby": `template-kind-${value}-hint` }),
    el("label", { for: "template-kind-" + value, text: label }),
    el("span", { class: "field-hint", id: `template-kind-${value}-hint`, text: hint }));
  const contentType = el("select", { id: "template-contentType", name: "contentType", "aria-describedby": "template-contentType-error" },
    ...["application/json", "text/plain"].map((value) => el("option", { value, text: value })));
  contentType.value = current?.contentType || "application/json";
  const body = el("textarea", { id: "template-body", name: "body", rows: "8", spellcheck: "false", text: current?.body || "",
    "aria-describedby": "template-body-hint template-body-size template-body-error" });
  const size = el("span", { class: "field-hint", id: "template-body-size" });
  const own = el("div", { class: "template-own", hidden: kind !== "body" },
    el("div", { class: "field" }, el("label", { for: "template-contentType", text: "Content type" }), contentType,
      el("span", { class: "field-error", id: "template-contentType-error", "aria-live": "polite" })),
    el("div", { class: "field" }, el("label", { for: "template-body", text: "Template" }), body,
      el("span", { class: "field-hint", id: "template-body-hint", text: "Mustache, rendered over the usual body: " +
        (templateTags(type).join(" ") || "{{type}} {{data.personID}} …") + ", and {{data.name}} (or any further field) when the " +
        "platform sends it; {{#x}}…{{/x}} shows its inside when x is there (once for each item of a list), {{^x}}…{{/x}} when it " +
        "is not. In JSON, write \"{{data.name}}\": the value goes in escaped; {{{data}}} writes a value as JSON." }),
      size,
      el("span", { class: "field-error", id: "template-body-error", "aria-live": "polite" })));
  const kinds = el("fieldset", { class: "field", "data-field": "template", id: "template-kind", "aria-describedby": "template-kind-error" },
    el("legend", { text: "What is sent" }),
    choice("none", "The usual JSON body", "No template: section 4's body, as every receiver's library expects."),
    choice("slack", "Slack", "One readable line a message, as {\"text\": …}: give the webhook a Slack incoming webhook's URL."),
    choice("teams", "Teams", "One readable line in an Adaptive Card: give the webhook a Teams Workflows webhook URL."),
    choice("body", "A template of your own", "JSON or text shaped as you write it: a sheet's row, a no-code tool's fields."),
    own,
    el("span", { class: "field-error", id: "template-kind-error", "aria-live": "polite" }));
  const preview = el("pre", { class: "answer", id: "template-preview", tabindex: "0", "aria-label": "Rendered example",
    "aria-describedby": "template-preview-about" });
  // A webhook of several types: the preview renders the example of the type chosen (the service
  // checks a template over every one of them when it is saved).
  const many = hook && typesOf(hook).length > 1 && methodTakes("webhook.requestExample", "type");
  const previewType = many ? el("select", { id: "template-preview-type", "aria-describedby": "template-preview-type-hint" },
    ...typesOf(hook).map((name) => el("option", { value: name, text: name }))) : null;
  const about = el("p", { class: "hint", id: "template-preview-about" });
  const outcome = outcomeNode("template");
  const form = el("form", { id: "template-form", class: "edit-form template-form", novalidate: true, "aria-labelledby": "template-title" },
    el("h5", { id: "template-title", text: "Template of " + webhookID }),
    kinds,
    el("h5", { text: "Preview" }),
    previewType ? el("div", { class: "field" }, el("label", { for: "template-preview-type", text: "Preview as" }), previewType,
      el("span", { class: "field-hint", id: "template-preview-type-hint", text: "Saving renders it over the example of every one of " +
        "the webhook's types: each must render." })) : null,
    about, preview,
    el("div", { class: "row" }, el("button", { type: "submit", text: "Save template", "data-key": "save-template" }),
      el("button", { type: "button", class: "quiet", text: "Cancel", onclick: () => closeTemplate() })),
    outcome,
    el("div", { class: "discard", hidden: true }));
  const chosen = () => $("input[name=template-kind]:checked", form).value;
  const value = () => {
    const which = chosen();
    if (which === "none") return {};
    if (which === "body") return { body: body.value, contentType: contentType.value };
    return { preset: which };
  };
  form.changed = () => templateKey(value()) !== templateKey(current);
  // Where a refusal of the template is said: at the template's text, or at the choice made.
  const place = () => (chosen() === "body" ? body : $("input[name=template-kind]:checked", form));
  const tooLong = () => chosen() === "body" && utf8Bytes(body.value) > MAX_TEMPLATE_BYTES;
  const showSize = () => {
    const bytes = utf8Bytes(body.value);
    size.textContent = `${bytes.toLocaleString("en")} of ${MAX_TEMPLATE_BYTES.toLocaleString("en")} bytes.`;
  };
  // The preview is the service's own rendering (webhook.requestExample with the template tried):
  // one read at a time, once typing pauses; only the latest one is shown.
  let asked = 0, pause = null;
  const render = async () => {
    const n = ++asked;
    clearErrors(form);
    if (tooLong()) {
      markField(form, "template", body, `At most ${MAX_TEMPLATE_BYTES.toLocaleString("en")} bytes of UTF-8 (${utf8Bytes(body.value).toLocaleString("en")} now).`);
      preview.classList.add("stale");
      about.textContent = "Not rendered: the template is too long. The preview shows the last one that rendered.";
      return;
    }
    about.textContent = "Rendering…";
    const result = await call("webhook.requestExample", { webhookID, template: value(), type: previewType?.value }, { quiet: true });
    if (n !== asked || !document.contains(form)) return;
    if (result.status === 429) { pause = setTimeout(render, 1000 * Math.max(1, Number(result.retryAfter) || 1)); return; }
    if (result.status === 401) { stopView(state.view); return; }
    if (!result.ok) {
      if (result.answer?.error?.field === "template") markField(form, "template", place(), result.answer.error.message);
      preview.classList.add("stale");
      about.textContent = `Not rendered: ${errorText(result)} The preview shows the last one that rendered.`;
      return;
    }
    preview.classList.remove("stale");
    const sent = result.answer.headers["content-type"];
    preview.textContent = result.answer.body;
    about.textContent = `An example of ${result.answer.payload?.type || type || "its type"} as the service renders it: exactly the ` +
      `body a delivery would carry, sent as ${sent} (${utf8Bytes(result.answer.body).toLocaleString("en")} bytes), signed over these bytes.`;
  };
  form.render = render;
  const later = () => { clearTimeout(pause); pause = setTimeout(render, PREVIEW_PAUSE_MS); };
  kinds.addEventListener("change", (event) => {
    if (event.target.name === "template-kind") {
      own.hidden = chosen() !== "body";
      if (!own.hidden && !body.value.trim()) { body.value = starterTemplate(type, contentType.value); showSize(); }
    }
    if (event.target === contentType && !body.value.trim()) body.value = starterTemplate(type, contentType.value);
    later();
  });
  body.addEventListener("input", () => { showSize(); later(); });
  previewType?.addEventListener("change", render);
  form.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    event.preventDefault();
    event.stopPropagation();
    if (form.querySelector(".discard").contains(event.target)) keepEditing(form);
    else closeTemplate();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!form.changed()) { say(outcome, "Nothing changed.", true); return; }
    if (tooLong()) { render(); body.focus(); return; }
    const wanted = value();
    const result = await busy($('[data-key="save-template"]', form), "Saving…", () => call("webhook.update", { webhookID, template: wanted }));
    if (!result.ok) {
      if (result.answer?.error?.field === "template") markField(form, "template", place(), result.answer.error.message);
      say(outcome, "Not saved: " + errorText(result), false);
      place().focus();
      return;
    }
    const view = state.view;
    if (view?.webhookID === webhookID) view.template = Object.keys(wanted).length ? JSON.parse(templateKey(wanted)) : null;
    state.hooks.set(webhookID, result.answer);
    closeTemplate({ ask: false });
    drawSettings();
    say($('#detail [data-outcome="edit"]'), "Saved. Template: " + templateText(view?.template ?? null) + ".", true);
  });
  showSize();
  return form;
}

// ---- Rotating the signing secret or key (webhook.rotateSecret) ----------------------------

// What a rotation does, said before it is done: an hmac webhook gets a new secret, an ed25519
// one a new key pair (contract, section 19); both sign for 24 hours.
const ROTATION = {
  hmac: { title: "Rotate the signing secret?", thing: "secret",
    text: "A new secret signs every delivery from now on. For 24 hours every delivery also carries a signature " +
      "made with the current secret (the new one first, space-separated), so your receiver keeps verifying while you switch it " +
      "to the new secret; after those 24 hours only the new secret signs, and the old one is deleted. The new secret is shown once.",
    done: (until) => `Rotated. Until ${until} every delivery carries two signatures, the new secret's first: switch your receiver to the new secret before then.` },
  ed25519: { title: "Rotate the signing key?", thing: "key",
    text: "A new key pair signs every delivery from now on. For 24 hours every delivery also carries a signature made with " +
      "the current key (the new one first, space-separated), so receivers that verify with the current public key keep " +
      "verifying while you give them the new one; after those 24 hours only the new key signs, and the old private key is deleted. " +
      "The new public key is shown here and in the settings: it is not a secret.",
    done: (until) => `Rotated. Until ${until} every delivery carries two signatures, the new key's first: give your receivers ` +
      "the new public key before then (the previous one, still in the settings, verifies until then too)." },
};

function toggleRotate(webhookID) {
  const slot = $("#rotate-slot"), button = $('#detail [data-key="rotate"]');
  const close = () => { slot.replaceChildren(); button.setAttribute("aria-expanded", "false"); button.focus(); };
  if (slot.firstChild) { close(); return; }
  const words = ROTATION[state.hooks.get(webhookID)?.signature] || ROTATION.hmac;
  button.setAttribute("aria-expanded", "true");
  const cancel = el("button", { type: "button", class: "quiet", text: "Cancel", onclick: close });
  const rotate = el("button", { type: "button", text: "Rotate now", onclick: async (e) => {
    const result = await busy(e.currentTarget, "Rotating…", () => call("webhook.rotateSecret", { webhookID }));
    if (!result.ok) { say($('[data-outcome="rotate"]', slot), "Not rotated: " + errorText(result), false); return; }
    const until = when(String(Math.floor(Date.now() / 1000) + 24 * 3600));
    const done = el("div", { class: "rotated" }, el("p", { class: "outcome ok", role: "status", text: words.done(until) }));
    slot.replaceChildren(done);
    showMade(result.answer, done.firstChild, true);
    $("#copy-secret, #copy-public-key", slot).focus();
    if (result.answer.publicKey) await loadWebhooks({ announce: false });  // the settings show both keys
  } });
  const box = el("div", { class: "rotate", role: "group", "aria-labelledby": "rotate-title", "aria-describedby": "rotate-text" },
    el("h5", { id: "rotate-title", text: words.title }),
    el("p", { id: "rotate-text", text: words.text }),
    el("div", { class: "row" }, rotate, cancel),
    outcomeNode("rotate"));
  box.addEventListener("keydown", (event) => { if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); close(); } });
  slot.replaceChildren(box);
  cancel.focus();
}

// ---- A device's token for a pull webhook (token.create with webhookID, section 18) ---------

function toggleDeviceToken(webhookID) {
  const slot = $("#device-slot"), button = $('#detail [data-key="device"]');
  const close = () => { slot.replaceChildren(); button.setAttribute("aria-expanded", "false"); button.focus(); };
  if (slot.firstChild) { close(); return; }
  button.setAttribute("aria-expanded", "true");
  const cancel = el("button", { type: "button", class: "quiet", text: "Cancel", onclick: close });
  const make = el("button", { type: "button", text: "Make the token", onclick: async (e) => {
    const result = await busy(e.currentTarget, "Making…", () => call("token.create", { webhookID }));
    if (!result.ok) {
      const why = result.status === 403 ? "only an admin token makes tokens: ask the platform's administrators for one." : errorText(result);
      say($('[data-outcome="device"]', slot), "No token made: " + why, false);
      return;
    }
    const token = result.answer.tokenID;
    const done = el("div", { class: "rotated" }, el("p", { class: "outcome ok", role: "status",
      text: `Made: a token that polls ${webhookID} and nothing else. Revoke it with token.revoke when the device is retired or lost.` }));
    slot.replaceChildren(done);
    showSecret("Device token", token, done.firstChild, `On the device, poll: GET ${location.origin}/api/webhook.poll?webhookID=${webhookID}` +
      "&wait=20 with the header Authorization: Bearer <the token>, then again with each answer's cursor. On a laptop, " +
      `the relay forwards them to a local URL: INEVENT_TOKEN=<the token> python -m chalicelib.listen --webhook ${webhookID} ` +
      "--forward http://localhost:3000/hook", "Copy token");
    $("#copy-secret", slot).focus();
  } });
  const box = el("div", { class: "rotate device", role: "group", "aria-labelledby": "device-title", "aria-describedby": "device-text" },
    el("h5", { id: "device-title", text: "Make a token for one device?" }),
    el("p", { id: "device-text", text: "For a door scanner, a kiosk or a laptop that reads this webhook's messages: the token may call " +
      "webhook.poll on this webhook and nothing else. Any other method, and polling any other webhook, is refused (403), so a " +
      "lost device exposes this webhook's messages only. The token is shown once." }),
    el("div", { class: "row" }, make, cancel),
    outcomeNode("device"));
  box.addEventListener("keydown", (event) => { if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); close(); } });
  slot.replaceChildren(box);
  cancel.focus();
}

// ---- A test send of a chosen type (webhook.test with type and data) -----------------------

// Open or close the test send's form; Escape in it closes it, back to its button.
async function toggleTestSend(webhookID) {
  const slot = $("#test-slot"), button = $('#detail [data-key="send-a-test"]');
  const close = () => { slot.replaceChildren(); button.setAttribute("aria-expanded", "false"); button.focus(); };
  if (slot.firstChild) { close(); return; }
  await loadTypes();  // the examples come from the catalog
  if (state.view?.webhookID !== webhookID || slot.firstChild) return;
  const form = testSendSection(webhookID);
  form.addEventListener("keydown", (event) => { if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); close(); } });
  slot.replaceChildren(form);
  button.setAttribute("aria-expanded", "true");
  $("select", form).focus();
}

function testSendSection(webhookID) {
  const hook = state.hooks.get(webhookID);
  const types = hook ? typesOf(hook) : [];
  const picker = el("select", { id: "test-type", name: "type", "aria-describedby": "test-type-hint" },
    ...types.map((name) => el("option", { value: name, text: `an example of ${name}` })),
    el("option", { value: "", text: "a plain test (webhook.test)" }));
  const fields = el("textarea", { id: "test-data", name: "data", rows: "3", spellcheck: "false", text: "{}",
    "aria-describedby": "test-data-hint test-data-error" });
  const preview = el("pre", { class: "answer", tabindex: "0", "aria-label": "Body to be sent", id: "test-preview" });
  const outcome = outcomeNode("test-send");
  const after = el("div", { class: "test-result" });
  const form = el("form", { class: "test-send", novalidate: true, "aria-labelledby": "test-send-title" },
    el("h5", { id: "test-send-title", text: "Send a test of a chosen type" }),
    el("div", { class: "field" }, el("label", { for: "test-type", text: "Test type" }), picker,
      el("span", { class: "field-hint", id: "test-type-hint", text: "An example of one of the webhook's types, exactly as a delivery of it looks " +
        "(example IDs, sequence 0), or a plain test. Either way it is signed, sent now, and kept in the log as webhook.test." }),
      el("span", { class: "field-error", id: "test-type-error", "aria-live": "polite" })),
    el("div", { class: "field" }, el("label", { for: "test-data", text: "Further fields" }), fields,
      el("span", { class: "field-hint", id: "test-data-hint", text: "A JSON object of fields added to the example's data, as the platform " +
        "adds them ({\"seat\": \"A4\"}, say); the type's IDs come from the example." }),
      el("span", { class: "field-error", id: "test-data-error", "aria-live": "polite" })),
    el("h5", { text: "What is sent (dated when it is sent)" }), preview,
    el("div", { class: "row" }, el("button", { type: "submit", text: "Send test", "data-key": "send-test" })),
    outcome, after);
  // Further fields go with an example: without a type chosen, the webhook's own (as the service does).
  const sentType = (data) => picker.value || (Object.keys(data).length ? types[0] || "" : "");
  const parsed = () => {
    const text = fields.value.trim();
    if (!text || text === "{}") return {};
    try {
      const value = JSON.parse(text);
      return value && typeof value === "object" && !Array.isArray(value) ? value : new Error("Further fields must be a JSON object, such as {\"seat\": \"A4\"}.");
    } catch (error) {
      return new Error("Further fields are not valid JSON: " + error.message);
    }
  };
  const draw = () => {
    const data = parsed();
    if (data instanceof Error) return;  // said at the field when sent; the preview keeps the last good one
    preview.textContent = JSON.stringify(testBody(hook, webhookID, sentType(data), data), null, 2);
  };
  picker.addEventListener("change", draw);
  fields.addEventListener("input", draw);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = parsed();
    if (data instanceof Error) { markField(form, "data", fields, data.message); fields.focus(); return; }
    const params = { webhookID };
    if (picker.value) params.type = picker.value;
    if (Object.keys(data).length) params.data = data;
    say(outcome, "Sending the test… (the endpoint has up to the delivery timeout to answer)", true);
    after.replaceChildren();
    const result = await busy($('[data-key="send-test"]', form), "Sending…", () => call("webhook.test", params));
    if (!result.ok) { say(outcome, testOutcome(result).text, false); markError(form, result.answer); return; }
    const { ok, text } = testOutcome(result);
    say(outcome, text, ok);
    after.replaceChildren(
      result.answer.response ? el("pre", { class: "answer", tabindex: "0", "aria-label": "The endpoint's answer", text: result.answer.response }) : "",
      el("button", { type: "button", class: "quiet", text: "View it in the log", "aria-label": `View the test ${result.answer.messageID}`,
        onclick: () => showMessage(webhookID, result.answer.messageID) }));
    refreshView();
  });
  draw();
  return form;
}

// The body a test send carries, for the reader to see before sending: the type's example from
// the catalog (the service makes it the same way, with the webhook's own eventID or companyID).
function testBody(hook, webhookID, type, fields) {
  const owner = hook ? { [levelOf(hook) === "company" ? "companyID" : "eventID"]: hook.companyID ?? hook.eventID } : {};
  const timestamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  if (!type) return { type: "webhook.test", timestamp, webhookID, sequence: 0, data: { ...owner, message: "a test delivery from InEvent webhooks" } };
  const example = (state.types || []).find((t) => t.type === type)?.example;
  return { type, timestamp, webhookID, sequence: 0, data: { ...(example?.data || {}), ...owner, ...fields } };
}

async function showExamples(webhookID) {
  const view = { kind: "examples", webhookID };
  const detail = openDetail(view, hookTitle(webhookID, "Request and response examples of "));
  const hook = state.hooks.get(webhookID);
  // A webhook of several types: the request example of the type chosen (section 17).
  const types = hook && methodTakes("webhook.requestExample", "type") ? typesOf(hook) : [];
  const picker = types.length > 1 ? el("select", { id: "example-type" }, ...types.map((name) => el("option", { value: name, text: name }))) : null;
  const requestBox = el("pre", { class: "answer", tabindex: "0", "aria-label": "Request example" });
  const read = async () => {
    const request = await call("webhook.requestExample", { webhookID, type: picker?.value }, { quiet: true });
    if (state.view?.webhookID === webhookID && state.view.kind === "examples") requestBox.textContent = JSON.stringify(request.answer, null, 2);
  };
  const pull = isPull(hook);  // nothing is POSTed to a pull webhook, and nothing answers
  const [, response] = await Promise.all([read(), pull ? null : call("webhook.responseExample", { webhookID }, { quiet: true })]);
  picker?.addEventListener("change", read);
  detail.append(...[el("h4", { text: pull ? "What a poll returns of a message" : "What your endpoint receives" }),
    picker ? el("div", { class: "filter" }, el("label", { for: "example-type", text: "Example of" }), picker) : null,
    requestBox,
    pull ? null : el("h4", { text: "What it should answer" }),
    pull ? null : el("pre", { class: "answer", tabindex: "0", "aria-label": "Response example",
      text: JSON.stringify(response.answer, null, 2) })].filter(Boolean));
}

// ---- The catalog of types -------------------------------------------------------------

// The catalog, read once (callers at the same moment share the one read).
async function loadTypes() {
  if (state.types) return state.types;
  state.typesRead ||= call("webhook.types", {}, { quiet: true }).finally(() => { state.typesRead = null; });
  const result = await state.typesRead;
  if (!result.ok) return null;
  if (!state.types) {
    state.types = result.answer.data;
    describeTypeSelects();
    describeTypePickers();
    describeListTypes();
  }
  return state.types;
}

function typeLabel(type) {
  const only = type.levels.length === 1 ? ` (${type.levels[0]} level only)` : "";
  return `${type.type} — ${type.description}${only}`;
}

// The type pickers of the methods are built from the OpenAPI document; the catalog adds what
// each type means.
function describeTypeSelects() {
  const byName = new Map((state.types || []).map((t) => [t.type, t]));
  for (const select of $$('#methods select[name="type"]')) {
    for (const option of select.options) {
      const type = byName.get(option.value);
      if (type) option.textContent = typeLabel(type);
    }
  }
}

async function showTypes({ focus = true } = {}) {
  const level = session.level.get();
  const detail = openDetail({ kind: "types" }, `Webhook types at the ${level} level`, { focus });
  if (!session.token.get()) { detail.append(el("p", { class: "hint", text: "Enter a token first: the catalog is read with it." })); return; }
  const types = await loadTypes();
  if (!types) { detail.append(el("p", { class: "bad-text", text: "The catalog could not be read." })); return; }
  const shown = types.filter((t) => t.levels.includes(level));
  detail.append(el("p", { class: "hint", text: `${shown.length} types can be registered for ${level === "event" ? "an event" : "a company"} ` +
    "(switch the level above to see the others). Open one to see what its deliveries carry." }));
  for (const type of shown) {
    detail.append(el("details", { class: "type", "data-type": type.type },
      el("summary", {}, el("code", { text: type.type }), " — " + type.description),
      el("p", { text: `Levels: ${type.levels.join(", ")} · subject: ${type.subject} · IDs in data: ${type.fields.join(", ")}` }),
      el("button", { type: "button", class: "quiet", text: "Use in webhook.create", "aria-label": `Use ${type.type} in webhook.create`,
        onclick: () => useType(type.type) }),
      el("h4", { text: "Example delivery body" }),
      el("pre", { class: "answer", tabindex: "0", "aria-label": `Example body of ${type.type}`, text: JSON.stringify(type.example, null, 2) })));
  }
}

function useType(typeName) {
  const form = openMethod("webhook.create");
  if (!form) return;
  form.querySelector('[name="type"]').value = typeName;
  form.querySelector('[name="type"]').dispatchEvent(new Event("change"));
  form.querySelector('[name="url"]')?.focus();
}

// ---- The methods, from the OpenAPI document --------------------------------------------

function methodsFrom(document_) {
  const methods = [];
  for (const [path, operations] of Object.entries(document_.paths || {})) {
    if (!path.startsWith("/api/")) continue;
    const operation = operations.post || operations.get;
    let fields = [];
    const form = operations.post?.requestBody?.content?.["application/x-www-form-urlencoded"]?.schema;
    if (form) {
      const required = form.required || [];
      // oneOf: [{required: [a]}, {required: [b]}] is "give exactly one of a and b".
      const oneOf = (form.oneOf || []).flatMap((choice) => choice.required || []);
      fields = Object.entries(form.properties || {}).map(([name, schema]) => ({ name, required: required.includes(name),
        oneOf: oneOf.includes(name) ? oneOf : null, ...schema }));
    } else if (operations.get) {
      fields = (operations.get.parameters || []).filter((p) => p.in === "query")
        .map((p) => ({ name: p.name, required: p.required, description: p.description, ...p.schema }));
    }
    methods.push({ name: path.slice("/api/".length), summary: operation.summary || "",
      verbs: Object.keys(operations).map((v) => v.toUpperCase()), fields });
  }
  return methods;
}

function fieldInput(method, field) {
  const id = method.name.replace(/\./g, "-") + "-" + field.name;
  if (field.name === "types") return typesInput(id, field);
  let input;
  if (field.enum) {
    input = el("select", { id, name: field.name });
    // A required choice starts unchosen: the first value of a list is no default.
    const labels = OPTION_LABELS[field.name] || {};
    input.append(el("option", { value: "", text: labels[""] || (field.required ? "choose a " + field.name : "any " + field.name) }));
    for (const value of field.enum) input.append(el("option", { value, text: labels[value] || value }));
  } else {
    input = el("input", {
      id, name: field.name, placeholder: PLACEHOLDERS[field.name] || "", spellcheck: "false", autocomplete: "off",
      type: field.name === "url" ? "url" : "text", inputmode: /^\^\[0-9\]/.test(field.pattern || "") ? "numeric" : false,
      required: field.required, maxlength: field.maxLength || false,
    });
  }
  input.setAttribute("aria-describedby", `${id}-hint ${id}-error`);
  const error = el("span", { class: "field-error", id: id + "-error", "aria-live": "polite" });
  const hint = el("span", { class: "field-hint", id: id + "-hint", text: field.description || "" });
  const need = field.required ? null : field.oneOf ? "exactly one of " + field.oneOf.join(", ") + " is required" : "optional";
  return el("div", { class: "field" }, el("label", { for: id, text: field.name }),
    need ? el("span", { class: "optional", text: need }) : null, input, hint, error);
}

// A method's `types` (section 17), chosen as a list of checkboxes with "All types"; the form
// sends what is chosen as the API's comma-separated list (methodItem adds it to the form's data).
function typesInput(id, field) {
  const picker = typesPicker(id, [], { legend: field.name, legendClass: "field-name", hint: field.description || "" });
  const need = field.required ? null : field.oneOf ? "exactly one of " + field.oneOf.join(", ") + " is required" : "optional";
  if (need) picker.querySelector("legend").after(el("span", { class: "optional", text: need }));
  return picker;
}

// The methods' type lists say what each type means once the catalog is read.
function describeTypePickers() {
  const byName = new Map((state.types || []).map((t) => [t.type, t]));
  for (const box of $$('#methods fieldset.types-field input[data-type]')) {
    const type = byName.get(box.dataset.type), label = box.labels?.[0];
    if (type && label) label.textContent = typeLabel(type);
  }
}

function clearErrors(form) {
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  for (const note of form.querySelectorAll(".field-error")) note.textContent = "";
}

// A refusal said at its field: `input` is marked, and the message goes in the note of its
// group of inputs (such as headers) or of the input itself.
function markField(form, field, input, message) {
  const group = form.querySelector(`fieldset[data-field="${CSS.escape(field)}"]`);
  const own = input?.id && $("#" + CSS.escape(input.id) + "-error", form);
  const note = own || (group && $("#" + CSS.escape(group.id) + "-error", form));
  if (!input || !note) return false;
  input.setAttribute("aria-invalid", "true");
  note.textContent = message;
  return true;
}

// The service's refusal shown at the field it names (a group of inputs too, such as headers).
function markError(form, answer) {
  const field = answer?.error?.field;
  if (!field) return;
  const group = form.querySelector(`fieldset[data-field="${CSS.escape(field)}"]`);
  // In a group, the input the message names (a filter's personID, say), else its first.
  const named = group && $$("textarea[name], input[name], input[data-type]", group).find((i) =>
    (i.name || i.dataset.type) && answer.error.message.includes(i.name || i.dataset.type));
  const input = group ? named || group.querySelector("input:not([type=checkbox]):not([type=radio]), textarea") ||
    group.querySelector("input")
    : form.querySelector(`[name="${CSS.escape(field)}"]`);
  if (markField(form, field, input, answer.error.message)) input.focus();
}

// Fill a method's fields with what the page has loaded: the level and owner whose webhooks
// are listed (not the level picker's choice before it is loaded), and the webhook in use. A
// value the page put there follows what is loaded, and goes when it no longer applies; a value
// the user typed stays.
function prefill(form, { loadedNow = false } = {}) {
  const loaded = state.loaded;
  const inputs = ["eventID", "companyID"].map((name) => form.querySelector(`[name="${name}"]`));
  const typed = (input) => !loadedNow && input && input.value && input.value !== input.dataset.prefilled;
  inputs.forEach((input, index) => {
    if (!input || typed(input)) return;
    const level = index === 0 ? "event" : "company";
    const value = loaded && loaded.level === level && !typed(inputs[1 - index]) ? loaded.owner : "";
    input.value = value;
    input.dataset.prefilled = value;
  });
  const hook = form.querySelector('[name="webhookID"]');
  if (hook && !hook.value) hook.value = session.webhook.get();
}

// The level and owner a method's parameters name, or null.
function ownerIn(params) {
  if (params.companyID && !params.eventID) return { level: "company", owner: params.companyID };
  if (params.eventID && !params.companyID) return { level: "event", owner: params.eventID };
  return null;
}

// Load `level` and `owner` as if chosen above.
function showOwner(level, owner) {
  session.level.set(level);
  ownerOf(level).set(owner);
  applyLevel();
  return loadWebhooks({ announce: false });
}

async function after(method, result, params, form) {
  if (!result.ok) return;
  const made = $(".row", form);  // a one-time secret goes right after the form's Run button
  if (method === "webhook.create" || method === "webhook.rotateSecret") showMade(result.answer, made, method === "webhook.rotateSecret");
  if (method === "token.create") showSecret("Token", result.answer.tokenID, made, "", "Copy token");
  if (method === "webhook.remove") forgetWebhook(params.webhookID);
  const named = ownerIn(params), loaded = state.loaded;
  const elsewhere = named && loaded && (named.level !== loaded.level || named.owner !== loaded.owner);
  form.querySelector('[data-outcome="elsewhere"]')?.remove();
  if ((method === "webhook.find" || (method === "webhook.create" && !loaded)) && named) {
    await showOwner(named.level, named.owner);  // the list shows what was asked for
  } else if (method === "webhook.create" && elsewhere) {
    // Made for another event or company than the one listed: said here, not switched to quietly.
    const note = el("div", { class: "outcome ok", role: "status", "data-outcome": "elsewhere" },
      el("span", { text: `Created ${result.answer.webhookID} for ${named.level} ${named.owner}, not the ${loaded.level} ` +
        `${loaded.owner} listed. ` }),
      el("button", { type: "button", class: "quiet small", text: `Show ${named.level} ${named.owner}`,
        onclick: () => showOwner(named.level, named.owner) }));
    ($("#secret", form) || made).after(note);
  } else if (["webhook.create", "webhook.remove", "webhook.enable", "webhook.disable", "webhook.update"].includes(method)) {
    if (params.webhookID) state.stats.delete(params.webhookID);
    await loadWebhooks({ announce: false });
  }
  // A one-time secret must be seen: in view, beside the form that made it; and so must the focus.
  // When the field that ran the form is too far above it for both to show (webhook.create's form
  // is taller than a laptop's screen), the focus goes to the secret's Copy button, what is to be
  // done next, rather than stay off-screen.
  const secret = $("#secret", form);
  if (secret) {
    const box = secret.getBoundingClientRect();
    // Scrolled whole pixels past its edge, with a margin: a box brought just "nearest" can end a
    // fraction of a pixel below the screen, as scrolling rounds.
    if (box.bottom > window.innerHeight) window.scrollBy(0, Math.min(Math.ceil(box.bottom - window.innerHeight) + 8, Math.floor(box.top)));
    else if (box.top < 0) window.scrollBy(0, Math.floor(box.top) - 8);
    const field = form.contains(document.activeElement) ? document.activeElement : null;
    const top = field?.getBoundingClientRect().top, span = secret.getBoundingClientRect().bottom - top;
    if (field && span > window.innerHeight) $("button", secret).focus({ preventScroll: true });
    else if (field && top < 0) window.scrollBy(0, top - Math.min(8, window.innerHeight - span));
  }
  if (method === "webhook.test") await testWebhookShown(params.webhookID);
  if (["webhook.redeliver", "webhook.deliveries", "webhook.message"].includes(method) && state.view?.webhookID === params.webhookID) refreshView();
}

async function testWebhookShown(webhookID) {
  if (state.view?.kind === "log" && state.view.webhookID === webhookID) await refreshView();
  else await showLog(webhookID, { focus: false });
}

function openMethod(name) {
  const item = $(`#methods li[data-method="${CSS.escape(name)}"]`);
  if (!item) return null;
  const jar = $(".jar", item), form = $("form", item);
  if (form.hidden) jar.click();
  return form;
}

// Methods that cannot be undone ask first, as the list's Remove does.
const ASK_FIRST = {
  "webhook.remove": (p) => [`Remove ${p.webhookID || "this webhook"}? Nothing more will be sent to it.`, "Yes, remove it"],
  "token.revoke": () => ["Revoke this token? Whoever uses it is refused from the next call on.", "Yes, revoke it"],
  "webhook.erasePerson": (p) => [`Erase every message about person ${p.personID || ""} from these logs? It cannot be undone.`, "Yes, erase them"],
};

function askFirst(form, params, run) {
  form.querySelector(".confirm")?.remove();
  const [question, yes] = ASK_FIRST[form.getAttribute("aria-label")](params);
  const first = form.querySelector("input, select");
  const cancel = () => { box.remove(); first?.focus(); };
  const no = el("button", { type: "button", class: "quiet", text: "Cancel", onclick: cancel });
  const box = el("div", { class: "confirm", role: "group", "aria-label": question },
    el("span", { text: question }),
    el("button", { type: "button", class: "danger", text: yes, onclick: () => { box.remove(); run(); } }), no);
  box.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); cancel(); } });
  $(".row", form).after(box);
  no.focus();
}

function methodItem(method) {
  const formId = "form-" + method.name.replace(/\./g, "-");
  const form = el("form", { id: formId, class: "method-form", hidden: true, novalidate: true, "aria-label": method.name },
    el("p", { class: "method-summary", text: method.summary + " " + method.verbs.join(" or ") + "." }),
    ...method.fields.map((field) => fieldInput(method, field)),
    el("div", { class: "row" }, el("button", { type: "submit", text: "Run " + method.name })));
  const run = async (params) => {
    const result = await call(method.name, params, { jump: true });
    if (!result.ok) markError(form, result.answer);
    await after(method.name, result, params, form);
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    hideSecret();
    const params = Object.fromEntries(new FormData(form).entries());
    if (ASK_FIRST[method.name]) askFirst(form, params, () => run(params));
    else run(params);
  });
  // A pull webhook has no url (section 18): choosing pull takes the url field out of the form.
  const delivery = form.querySelector('select[name="delivery"]'), url = form.querySelector('input[name="url"]');
  if (delivery && url) {
    delivery.addEventListener("change", () => {
      url.disabled = delivery.value === "pull";
      url.placeholder = url.disabled ? "none: a pull webhook is polled" : PLACEHOLDERS.url;
    });
  }
  // One type, or several: choosing one clears the other (the service takes type or types).
  const single = form.querySelector('select[name="type"]'), many = form.querySelector("fieldset.types-field");
  if (single && many) {
    single.addEventListener("change", () => { if (single.value) form.querySelector("fieldset.types-field").clear(); });
    form.addEventListener("change", (event) => {
      if (event.target.closest("fieldset.types-field") && form.querySelector("fieldset.types-field").value().length) single.value = "";
    });
  }
  // The types chosen go with the form's fields, as the API's comma-separated list.
  form.addEventListener("formdata", (event) => {
    for (const picker of form.querySelectorAll("fieldset.types-field")) {
      if (picker.value().length) event.formData.set(picker.dataset.field, picker.value().join(","));
    }
  });
  // Enter runs the method from any field, the type pickers (a select, checkboxes) included.
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.target.tagName === "SELECT" || event.target.type === "checkbox")) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  const jar = el("button", {
    type: "button", class: "jar quiet", "aria-expanded": "false", "aria-controls": formId,
    "aria-label": "Open " + method.name, title: "Open " + method.name,
  });
  jar.innerHTML = JAR;  // a fixed icon of this file, not data
  jar.addEventListener("click", () => {
    const open = form.hidden;
    form.hidden = !open;
    jar.setAttribute("aria-expanded", String(open));
    jar.setAttribute("aria-label", (open ? "Close " : "Open ") + method.name);
    jar.title = (open ? "Close " : "Open ") + method.name;
    if (open) {
      prefill(form);
      const first = form.querySelector("input, select");
      if (first) first.focus();
    }
  });
  return el("li", { "data-method": method.name },
    el("div", { class: "method-head" }, jar,
      el("span", { class: "method-name", text: method.name })),
    form);
}

async function loadMethods() {
  try {
    const response = await fetch("/openapi.json");
    const document_ = await response.json();
    state.methods = methodsFrom(document_);
    // Every type the API names, for the type lists until the catalog is read with a token.
    state.typeNames = state.methods.flatMap((m) => m.fields).find((f) => f.name === "type" && f.enum)?.enum || [];
  } catch (error) {
    $("#methods-loading").textContent = "The methods could not be read from /openapi.json: " + error.message;
    return;
  }
  $("#methods").replaceChildren(...state.methods.map(methodItem));
  $("#methods-loading").remove();
  describeTypeSelects();
}

// ---- Where a message went (webhook.trace) ------------------------------------------------

// Find `messageID` in the listed event or company: every webhook of it the message was queued
// for, with its status and attempts. Answers whether it was found (the finder says why not).
async function findMessage(messageID, { focus = true } = {}) {
  const input = $("#find-message-id"), note = $("#find-message-error");
  setFieldError(input, note, "");
  if (!state.loaded) {
    setFieldError(input, note, "Load an event or a company first: a message is found among the webhooks it was dispatched to.");
    return false;
  }
  const { level, owner } = state.loaded;
  const result = await call("webhook.trace", { messageID, [level === "company" ? "companyID" : "eventID"]: owner }, { quiet: true });
  if (result.status === 404) {
    setFieldError(input, note, `No message ${messageID} was dispatched to ${level} ${owner} (or this token cannot see it).`);
    return false;
  }
  if (!result.ok) { setFieldError(input, note, errorText(result)); return false; }
  const detail = openDetail({ kind: "trace", messageID, level, owner }, `Message ${messageID} in ${level} ${owner}`, { focus });
  detail.append(el("p", { class: "hint", id: "trace-about" }), el("ul", { class: "trace" }));
  renderTrace(result.answer);
  return true;
}

function renderTrace(trace) {
  const view = state.view;
  const list = $("#detail .trace");
  if (!list || view?.kind !== "trace") return;
  const signature = JSON.stringify(trace);
  if (list.dataset.signature === signature) return;
  list.dataset.signature = signature;
  const company = view.level === "company";
  $("#trace-about").textContent = `${trace.type}, dated ${when(trace.date)}: queued for ${trace.data.length} webhook(s) of this ${view.level}` +
    (company ? "." : " (a platform event that names a company reaches its company-level webhooks too: load the company to see those).");
  const focusedKey = list.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  list.replaceChildren(...(trace.data.length ? trace.data.map((entry) => {
    const hook = state.hooks.get(entry.webhookID);
    const last = !entry.attempts ? "not attempted yet" : entry.lastStatusCode === null ? "no answer" : `last answer ${entry.lastStatusCode}`;
    return el("li", { class: "trace-entry", "data-webhook": entry.webhookID },
      el("div", {},
        hook?.description ? el("div", { class: "description", text: hook.description }) : null,
        el("div", { class: "mono url", text: entry.url ?? "pull: read with webhook.poll" }),
        el("code", { class: "muted-small", text: entry.webhookID })),
      el("div", { class: "trace-state" },
        el("span", { class: "badge " + entry.status, text: entry.status }),
        el("span", { class: "muted-small", text: `${entry.attempts} attempt(s) · ${last}` })),
      el("button", { type: "button", class: "quiet", text: "View", "data-key": "view-" + entry.webhookID,
        "aria-label": `View ${trace.messageID} at ${entry.webhookID}`, onclick: () => showMessage(entry.webhookID, trace.messageID) }));
  }) : [el("li", { class: "hint", text: "None of the webhooks it was queued for is still there (removed, or its record erased)." })]));
  if (focusedKey) $(`[data-key="${CSS.escape(focusedKey)}"]`, list)?.focus({ preventScroll: true });
}

// ---- Starting up ---------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  $("#token").value = session.token.get();
  applyLevel();
  $("#token").addEventListener("change", (e) => { session.token.set(e.target.value.trim()); });
  $("#event").addEventListener("change", (e) => { ownerOf(session.level.get()).set(e.target.value.trim()); });
  $("#level").addEventListener("change", (e) => {
    session.level.set(e.target.value);
    applyLevel();
    setFieldError($("#event"), $("#event-error"), "");
    $("#hooks").hidden = true;
    $("#hook-filters").hidden = true;
    $("#hooks-count").textContent = "";
    hooksNote(`Enter the ${e.target.value} whose webhooks to load.`);
  });
  $("#session").addEventListener("submit", async (event) => {
    event.preventDefault();
    session.token.set($("#token").value.trim());
    ownerOf(session.level.get()).set($("#event").value.trim());
    await loadWebhooks({ userAsked: true });
  });
  $("#level").addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); $("#session").requestSubmit(); }
  });
  $("#show-types").addEventListener("click", () => showTypes());
  $("#find-message").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("#find-message-id"), messageID = input.value.trim();
    if (!messageID) { setFieldError(input, $("#find-message-error"), "Enter a message ID (msg_...)."); input.focus(); return; }
    if (!(await findMessage(messageID))) input.focus();
  });
  for (const control of ["#hook-search", "#hook-status", "#hook-type", "#hook-health"]) {
    $(control).addEventListener("input", applyListFilters);
  }
  $("#hook-filters").addEventListener("submit", (event) => event.preventDefault());
  for (const link of $$(".skip-links a")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();  // the address keeps the view's link
      const target = $(link.getAttribute("href"));
      target.focus();
      target.scrollIntoView({ block: "start" });
    });
  }
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !e.defaultPrevented && state.view && $("#detail").contains(document.activeElement)) closeDetail();
  });
  // An open view is read again while the page is in view.
  state.timer = setInterval(() => { if (!document.hidden && state.view && !state.view.stopped) refreshView(); }, REFRESH_MS);
  // A link to a place (#event=...&webhook=...&message=...) opens it once the webhooks load.
  window.addEventListener("hashchange", () => { if (readLink()) loadWebhooks({ announce: false }); });
  const linked = location.hash.length > 1 && readLink();
  await loadMethods();
  if (linked || (session.token.get() && ownerOf(session.level.get()).get())) loadWebhooks({ announce: false });
});
