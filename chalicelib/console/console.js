// The API console: every method of the webhook API, with the jar button that opens its fields,
// Enter to run it, and the JSON answer; the webhooks of an event or a company with their health,
// delivery log, messages and the catalog of types. Plain DOM code: no framework, no build,
// nothing fetched from elsewhere. Values are put on the page with textContent, never as HTML.
//
// The methods and their fields are read from the service's own OpenAPI document
// (/openapi.json, generated from the method registry): a method added there shows up here.
"use strict";

const REFRESH_MS = 3000;  // how often an open delivery log or message is read again
const PAGE_SIZE = 20;  // messages a page of the delivery log
const PICTURE_SIZE = 100;  // the health picture: the latest 100 messages, as webhook.stats counts them
const ANSWER_KEPT_BYTES = 2048;  // the service keeps the first 2 KiB of an endpoint's answer
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
const session = { token: stored("token"), level: stored("level", "event"), owner: stored("event"), webhook: stored("webhook") };
const ownerField = () => (session.level.get() === "company" ? "companyID" : "eventID");

// What the console shows in its webhook area: null, or {kind, webhookID, ...}. `loaded` is the
// level and owner whose webhooks are listed (what prefills follow); `hooks` those webhooks.
const state = { view: null, types: null, methods: [], timer: null, loaded: null, hooks: new Map(), link: null };

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

// Keep what the reader looks at where it is on the screen while `change` adds or removes
// content above it: the focused element, or else `fallback`.
async function keepPlace(change, fallback = null) {
  const active = document.activeElement !== document.body ? document.activeElement : null;
  const anchor = active || fallback;
  const key = anchor && anchorKey(anchor);
  const before = anchor ? anchor.getBoundingClientRect().top : 0;
  const value = await change();
  const now = anchor && (document.contains(anchor) ? anchor : key && findAnchor(key));
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

async function copyText(button, text, target) {
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    const range = document.createRange();
    range.selectNodeContents(target);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    button.textContent = "Selected: press Ctrl+C";
  }
  clearTimeout(button.resetTimer);
  button.resetTimer = setTimeout(() => { button.textContent = label; }, 2500);
}

function showSecret(title, value) {
  const box = $("#secret"), copy = $("#copy-secret");
  $("strong", box).textContent = title;
  $("#secret-value").textContent = value;
  clearTimeout(copy.resetTimer);
  copy.textContent = "Copy secret";  // a new secret has not been copied yet
  box.hidden = false;
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
  const company = session.level.get() === "company";
  $("#level").value = session.level.get();
  $("#owner-label").textContent = company ? "Company" : "Event";
  $("#event").placeholder = company ? "companyID" : "eventID";
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
  state.loaded = { level, owner };
  state.hooks = new Map(result.answer.data.map((hook) => [hook.webhookID, hook]));
  $("#hooks-title").textContent = `Webhooks of ${level} ${owner}`;
  const body = $("tbody", table);
  await keepPlace(() => {
    body.replaceChildren(...result.answer.data.map(webhookRow));
    table.hidden = result.answer.count === 0;
    hooksNote(result.answer.count === 0 ? `This ${level} has no webhooks yet: create one with webhook.create.` : "");
  });
  for (const form of $$("#methods form:not([hidden])")) prefill(form);
  if (state.view?.stopped) resumeView();
  if (!state.types) loadTypes();
  if (state.link) openLink();
  else setLink();
  // The health lines make rows taller: what the reader has in view stays where it is.
  await keepPlace(() => Promise.all(result.answer.data.map((hook) => fillHealth(hook.webhookID))));
  return result;
}

// ---- The webhooks table -----------------------------------------------------------------

function actionButton(label, id, handler, extra = {}) {
  return el("button", { type: "button", class: "quiet", text: label, "aria-label": label + " " + id, onclick: handler, ...extra });
}

function webhookRow(hook) {
  const id = hook.webhookID;
  const idCode = el("code", { class: "nowrap", text: id });
  const enabled = hook.status === "enabled";
  const toggle = actionButton(enabled ? "Disable" : "Enable", id, () => setStatus(id, enabled ? "webhook.disable" : "webhook.enable"), { "data-key": "toggle" });
  const level = hook.companyID !== undefined ? "company " + hook.companyID : "event " + hook.eventID;
  return el("tr", { "data-webhook": id },
    el("td", {},
      el("div", { class: "mono url", text: hook.url }),
      el("div", { class: "id-line" }, idCode,
        actionButton("Copy", id, (e) => copyText(e.currentTarget, id, idCode), { class: "quiet small" }),
        actionButton("Use", id, () => useWebhook(id), { class: "quiet small", "aria-label": `Use ${id} in the methods` }))),
    el("td", {}, el("span", { text: hook.type }), el("div", { class: "muted-small", text: level })),
    el("td", {}, timeOf(hook.date)),
    el("td", { class: "health-cell" }, el("span", { class: "badge " + hook.status, text: hook.status }), el("div", { class: "health", text: "…" })),
    el("td", {}, el("div", { class: "actions" },
      actionButton("Log", id, () => showLog(id), { "data-key": "log" }),
      actionButton("Test", id, () => testWebhook(id), { "data-key": "test" }),
      toggle,
      actionButton("Examples", id, () => showExamples(id), { "data-key": "examples" }),
      actionButton("Remove", id, (e) => confirmRemove(e.currentTarget, id), { "data-key": "remove" })),
    outcomeNode(id)));
}

function healthLines(stats) {
  const lines = [];
  if (stats.status === "disabled") {
    lines.push({ text: stats.disabledReason ? "Disabled by the service: " + stats.disabledReason : "Disabled by hand", bad: true });
  }
  if (stats.successRate === null) lines.push({ text: stats.window ? "no finished message yet" : "no messages yet" });
  else lines.push({ text: `${Math.round(stats.successRate * 1000) / 10}% delivered (${stats.delivered} of ${stats.delivered + stats.failed})`, bad: stats.successRate < 0.9 });
  if (stats.p50DurationMs !== null) lines.push({ text: `latency p50 ${stats.p50DurationMs} ms · p95 ${stats.p95DurationMs} ms` });
  lines.push({ text: stats.lastSuccessDate ? "last success " + when(stats.lastSuccessDate) : "no success yet" });
  if (stats.failingSince) lines.push({ text: "failing since " + when(stats.failingSince), bad: true });
  if (stats.heldToShare) lines.push({ text: heldLine(stats.heldToShare), bad: true });
  if (stats.pending || stats.skipped) lines.push({ text: `${stats.pending} pending · ${stats.skipped} skipped` });
  return lines;
}

async function fillHealth(webhookID) {
  const result = await call("webhook.stats", { webhookID }, { quiet: true });
  const cell = $(`tr[data-webhook="${CSS.escape(webhookID)}"] .health`);
  if (!cell) return result;
  if (!result.ok) { cell.textContent = "health unknown"; return result; }
  cell.replaceChildren(...healthLines(result.answer).map((line) => el("div", { class: line.bad ? "bad-text" : "", text: line.text })));
  return result;
}

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
  box.addEventListener("keydown", (e) => { if (e.key === "Escape") cancel(); });
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
  if (state.view?.webhookID === webhookID) closeDetail();
  if (session.webhook.get() === webhookID) session.webhook.set("");
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

async function testWebhook(webhookID) {
  const result = await call("webhook.test", { webhookID });
  const { ok, text } = testOutcome(result);
  rowSay(webhookID, text, ok);
  if (!result.ok) return;
  // The test send is in the delivery log: show it there.
  if (state.view?.kind === "log" && state.view.webhookID === webhookID) await refreshView();
  else await showLog(webhookID, { focus: false });
  fillHealth(webhookID);
}

// ---- The webhook area: one view at a time (log, message, examples, types) ---------------

function closeDetail() {
  const opener = state.view?.opener;
  state.view = null;
  const detail = $("#detail");
  detail.hidden = true;
  detail.replaceChildren();
  setLink();
  if (opener && document.contains(opener)) opener.focus();
}

function openDetail(view, title, { focus = true } = {}) {
  const opener = state.view?.opener || (document.activeElement !== document.body ? document.activeElement : null);
  state.view = { ...view, opener };
  const detail = $("#detail");
  const heading = el("h3", { id: "detail-title", tabindex: "-1", text: title });
  const shareable = view.kind === "log" || view.kind === "message";
  detail.replaceChildren(el("div", { class: "detail-head" }, heading,
    el("div", { class: "row" },
      shareable ? el("button", { type: "button", class: "quiet", text: "Copy link", "aria-label": "Copy a link to this view",
        onclick: (e) => copyText(e.currentTarget, location.href, heading) }) : null,
      el("button", { type: "button", class: "quiet", text: "Close", "aria-label": "Close " + title, onclick: closeDetail }))));
  detail.setAttribute("role", "region");
  detail.setAttribute("aria-labelledby", "detail-title");
  detail.hidden = false;
  setLink();
  if (focus) heading.focus();
  return detail;
}

// ---- Shareable places: #event=1234&webhook=wh_...&message=msg_... ----------------------

function setLink() {
  const params = new URLSearchParams();
  if (state.loaded) params.set(state.loaded.level, state.loaded.owner);
  const view = state.view;
  if (view && (view.kind === "log" || view.kind === "message")) params.set("webhook", view.webhookID);
  if (view && view.kind === "message") params.set("message", view.messageID);
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
  session.owner.set(params.get(level));
  $("#event").value = params.get(level);
  applyLevel();
  state.link = params.get("webhook") ? { webhookID: params.get("webhook"), messageID: params.get("message") } : null;
  if (!session.token.get()) {
    hooksNote(state.link ? `Enter your token to open ${state.link.messageID || state.link.webhookID}, from the link.`
      : `Enter your token to load the webhooks of ${level} ${params.get(level)}, from the link.`);
    return false;
  }
  return true;
}

function openLink() {
  const link = state.link;
  state.link = null;
  if (!link) return;
  if (link.messageID) showMessage(link.webhookID, link.messageID);
  else showLog(link.webhookID);
}

// ---- The webhook view: what it is, its health, its delivery log --------------------------

function hookTitle(webhookID) {
  const hook = state.hooks.get(webhookID);
  return hook ? `${webhookID} · ${hook.url}` : webhookID;
}

function healthList(stats) {
  const rows = [
    ["Status", stats.status + (stats.disabledReason ? ": " + stats.disabledReason : "")],
    ["Success rate", stats.successRate === null ? "no finished message" : `${Math.round(stats.successRate * 1000) / 10}%`],
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
  const level = hook && hook.companyID !== undefined ? "company" : "event";
  const listeners = [...state.hooks.values()].filter((h) => h.type === "webhookDisabled" && h.webhookID !== stats.webhookID &&
    (h.companyID !== undefined ? "company" : "event") === level);
  if (!listeners.length) {
    return `No webhook of this ${level} subscribes to webhookDisabled, so no one was told; create one of that type to hear of it next time.`;
  }
  return `Its subscribers were told: a webhookDisabled notice went to this ${level}'s webhookDisabled subscribers (` +
    listeners.map((h) => `${h.webhookID} · ${h.url}`).join(", ") + ").";
}

function settingsList(hook) {
  const filter = hook.filter && Object.keys(hook.filter).length
    ? Object.entries(hook.filter).map(([name, ids]) => `${name}: ${ids.join(", ")}`).join("; ") : "none: every message of its type";
  const rows = [
    ["Endpoint", hook.url],
    ["Type", hook.type],
    ["Headers", hook.headers?.length ? hook.headers.join(", ") + " (values are never shown)" : "none"],
    ["Rate limit", hook.rateLimit ? `${hook.rateLimit} attempts a second` : "no limit"],
    ["Filter", filter],
  ];
  return rows.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { text: value })]);
}

// The type filter offers what this webhook can hold: its own type and test sends.
function typeOptions(select, webhookID) {
  select.append(el("option", { value: "", text: "any type" }));
  const hook = state.hooks.get(webhookID);
  const names = hook ? [hook.type] : (state.types || []).map((t) => t.type);
  for (const name of [...names, "webhook.test"]) select.append(el("option", { value: name, text: name }));
}

function dayStart(value) {
  return value ? String(Math.floor(new Date(value + "T00:00:00").getTime() / 1000)) : "";
}

function dayEnd(value) {
  return value ? String(Math.floor(new Date(value + "T23:59:59").getTime() / 1000)) : "";
}

async function showLog(webhookID, { focus = true } = {}) {
  const detail = openDetail({ kind: "log", webhookID, messages: new Map(), outcomes: new Map(), unseen: 0, generation: 0 },
    "Webhook " + hookTitle(webhookID), { focus });
  const hook = state.hooks.get(webhookID);
  const health = el("dl", { class: "health-list", "aria-label": "Health over the latest 100 messages" });
  const statusFilter = el("select", { id: "filter-status", name: "status" }, el("option", { value: "", text: "any status" }),
    ...["pending", "delivered", "failed", "skipped"].map((s) => el("option", { value: s, text: s })));
  const typeFilter = el("select", { id: "filter-type", name: "type" });
  typeOptions(typeFilter, webhookID);
  const fromFilter = el("input", { id: "filter-from", name: "from", type: "date" });
  const toFilter = el("input", { id: "filter-to", name: "to", type: "date" });
  const search = el("input", { id: "filter-message", name: "messageID", placeholder: "msg_...", spellcheck: "false", autocomplete: "off",
    "aria-describedby": "filter-message-error" });
  const searchError = el("span", { id: "filter-message-error", class: "field-error", "aria-live": "polite" });
  const filters = el("form", { class: "filters", "aria-label": "Filter the delivery log", novalidate: true },
    el("div", { class: "filter" }, el("label", { for: "filter-status", text: "Status" }), statusFilter),
    el("div", { class: "filter" }, el("label", { for: "filter-type", text: "Type" }), typeFilter),
    el("div", { class: "filter" }, el("label", { for: "filter-from", text: "From date" }), fromFilter),
    el("div", { class: "filter" }, el("label", { for: "filter-to", text: "To date" }), toFilter),
    el("div", { class: "filter search" }, el("label", { for: "filter-message", text: "Message ID" }),
      el("div", { class: "row" }, search, el("button", { type: "submit", class: "quiet", text: "Find message" })), searchError));
  filters.addEventListener("submit", async (event) => {
    event.preventDefault();
    const messageID = search.value.trim();
    if (!messageID) { setFieldError(search, searchError, "Enter a message ID."); search.focus(); return; }
    const result = await call("webhook.message", { webhookID, messageID }, { quiet: true });
    if (!result.ok) { setFieldError(search, searchError, errorText(result)); search.focus(); return; }
    showMessage(webhookID, messageID, result.answer);
  });
  // The filters are the service's (webhook.deliveries' status, type, from and to): a page
  // holds up to PAGE_SIZE matching messages, however far back they are.
  for (const filter of [statusFilter, typeFilter, fromFilter, toFilter]) filter.addEventListener("change", reloadLog);
  const since = el("input", { id: "replay-since", name: "since", type: "datetime-local", step: "1", "aria-describedby": "replay-all-help" });
  const replayOutcome = outcomeNode("replay-all");
  const replayAll = el("button", { type: "button", class: "quiet", text: "Replay failed and skipped",
    "aria-describedby": "replay-all-help", onclick: async () => {
      const from = since.value ? String(Math.floor(new Date(since.value).getTime() / 1000)) : "0";
      const result = await call("webhook.redeliver", { webhookID, since: from });
      say(replayOutcome, result.ok ? `${result.answer.queued} message(s) queued again` +
        (since.value ? ` (since ${since.value.replace("T", " ")}).` : ".") : errorText(result), result.ok);
      refreshView();
    } });
  const editButton = el("button", { type: "button", class: "quiet", text: "Edit", "aria-expanded": "false", "aria-controls": "edit-form",
    "aria-label": "Edit " + webhookID, "data-key": "edit", onclick: () => toggleEdit(webhookID) });
  detail.append(
    el("div", { class: "settings-head" }, el("h4", { text: "Settings" }), editButton),
    el("dl", { class: "settings-list", "aria-label": "Settings" }, ...(hook ? settingsList(hook) : [])),
    outcomeNode("edit"),
    el("div", { id: "edit-slot" }),
    el("h4", { text: "Health" }),
    el("figure", { class: "picture-box" }, el("div", { class: "picture-slot" }),
      el("figcaption", { id: "picture-text", class: "hint", text: "Reading the latest messages…" })),
    health,
    el("h4", { text: "Delivery log" }),
    el("p", { class: "hint", text: `Newest first; it refreshes every ${REFRESH_MS / 1000} s while open.` }),
    filters,
    el("div", { class: "log-actions" },
      el("div", { class: "filter" }, el("label", { for: "replay-since", text: "Replay from" }), since), replayAll,
      el("span", { id: "replay-all-help", class: "hint",
        text: "Sends again every failed message, and every message skipped while the webhook was disabled, since that time (empty: since the first one kept)." })),
    replayOutcome,
    el("p", { id: "log-count", class: "hint", "aria-live": "polite" }),
    el("button", { type: "button", class: "quiet new-messages", hidden: true, "data-key": "new-messages", onclick: showNewMessages }),
    el("div", { class: "messages" }),
    el("button", { type: "button", class: "quiet more", text: "Older messages", hidden: true, "data-key": "older", onclick: () => olderMessages() }));
  await refreshView();
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
// messages above it are counted ("N new messages") instead.
async function refreshLog(view) {
  const generation = view.generation;  // reloadLog moves it on: a read under the old filters is dropped
  const [result, stats, latest] = await Promise.all([
    call("webhook.deliveries", logQuery(view), { quiet: true }),
    call("webhook.stats", { webhookID: view.webhookID }, { quiet: true }),
    call("webhook.deliveries", { webhookID: view.webhookID, limit: String(PICTURE_SIZE) }, { quiet: true }),
  ]);
  if (state.view !== view || view.generation !== generation) return;  // another view, or other filters
  if ([result, stats, latest].some((r) => r.status === 401)) { stopView(view); return; }
  if (stats.ok) $("#detail .health-list").replaceChildren(...healthList(stats.answer));
  if (latest.ok) drawPicture(latest.answer.data);
  if (!result.ok) { $("#log-count").textContent = "The log could not be read: " + errorText(result); return; }
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

// A refused token (revoked, say) stops the view's refreshing, and says so there.
function stopView(view) {
  view.stopped = true;
  const detail = $("#detail");
  if (!$("#view-stopped", detail)) {
    $(".detail-head", detail).after(el("p", { id: "view-stopped", class: "bad-text", role: "alert",
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
  const pending = message.status === "pending";
  // aria-disabled, not disabled: a disabled button loses the keyboard focus when a replay
  // makes its message pending.
  return el("button", { type: "button", class: "quiet", text: "Replay", "aria-label": "Replay " + message.messageID, "data-key": "replay",
    "aria-disabled": pending ? "true" : false, title: pending ? "Being delivered: it can be replayed when it is finished" : false,
    onclick: async () => {
      if (message.status === "pending") return;
      const result = await call("webhook.redeliver", { webhookID, messageID: message.messageID });
      const text = result.ok ? `Replay queued (${result.answer.queued}): it is sent again now.` : "Replay refused: " + errorText(result);
      const view = state.view;
      if (view?.outcomes) view.outcomes.set(message.messageID, { text, ok: result.ok });
      if (view?.kind === "message") view.outcome = { text, ok: result.ok };
      say(outcome(), text, result.ok);
      refreshView();
    } });
}

function messageRow(webhookID, message) {
  const last = message.attempts[message.attempts.length - 1];
  const outcome = last ? `${message.attempts.length} attempt(s) · last ${last.statusCode ?? "no answer"} · ${last.durationMs} ms` : "not sent yet";
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
      el("span", { class: "muted-small", text: outcome + (last?.error ? " · " + last.error : "") }),
      message.nextAttemptDate ? el("span", { class: "muted-small", text: "next attempt " + when(message.nextAttemptDate) }) : null,
      replayButton(webhookID, message, () => $(`article[data-message="${CSS.escape(message.messageID)}"] [data-outcome]`))),
    said);
}

async function showMessage(webhookID, messageID, answer) {
  const result = answer ? { ok: true, answer } : await call("webhook.message", { webhookID, messageID }, { quiet: true });
  const detail = openDetail({ kind: "message", webhookID, messageID }, `Message ${messageID} · ${hookTitle(webhookID)}`);
  detail.append(el("div", { class: "row" },
    el("button", { type: "button", class: "quiet", text: "Back to the log", onclick: () => showLog(webhookID) })),
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
  box.replaceChildren(
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
    el("h4", { text: request ? "What the latest attempt sent" : "Not sent yet" }),
    request ? el("h5", { text: "Headers" }) : null,
    request ? el("pre", { class: "answer", tabindex: "0", "aria-label": "Headers sent", text: headers }) : null,
    request ? el("h5", { text: "Body (exactly as sent)" }) : null,
    request ? bodyPre : null,
    el("h4", { text: "Attempts" }),
    message.attempts.length ? el("ol", { class: "attempts" }, ...message.attempts.map((a, i) => el("li", {},
      el("span", { text: `Attempt ${a.attempt} · ${when(a.date)} · ${a.statusCode ?? "no answer"} · ${a.durationMs} ms` }),
      a.error ? el("div", { class: "bad-text", text: a.error }) : null,
      a.response ? answerBlock(a, i === last) : null)))
      : el("p", { class: "hint", text: "No attempt yet." }));
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
  if (view.kind === "message") {
    const result = await call("webhook.message", { webhookID: view.webhookID, messageID: view.messageID }, { quiet: true });
    if (result.status === 401) { stopView(view); return; }
    if (state.view === view) renderMessage(result);
  }
}

// ---- Editing a webhook: url, headers, rate limit, filter (webhook.update) ----------------

// The ID fields a filter may name: those the type carries, eventID only at company level.
function filterFields(hook) {
  const type = (state.types || []).find((t) => t.type === hook.type);
  const company = hook.companyID !== undefined;
  return (type ? type.fields : []).filter((f) => ["activityID", "personID", "speakerID"].includes(f) || (company && f === "eventID"));
}

function editField(name, label, control, hint) {
  const id = control.id;
  control.setAttribute("aria-describedby", `${id}-hint ${id}-error`);
  return el("div", { class: "field", "data-field": name }, el("label", { for: id, text: label }), control,
    el("span", { class: "field-hint", id: id + "-hint", text: hint }),
    el("span", { class: "field-error", id: id + "-error", "aria-live": "polite" }));
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

function toggleEdit(webhookID) {
  const slot = $("#edit-slot"), button = $('#detail [data-key="edit"]');
  if (slot.firstChild) { slot.replaceChildren(); button.setAttribute("aria-expanded", "false"); button.focus(); return; }
  const hook = state.hooks.get(webhookID);
  if (!hook) return;
  button.setAttribute("aria-expanded", "true");
  const url = el("input", { id: "edit-url", name: "url", type: "url", value: hook.url, spellcheck: "false", autocomplete: "off" });
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
  const filterInputs = filterFields(hook).map((name) => el("textarea", { id: `edit-filter-${name}`, name, rows: "2", spellcheck: "false",
    "data-filter": name, text: (hook.filter?.[name] || []).join("\n") }));
  const filter = el("fieldset", { class: "field", "data-field": "filter", id: "edit-filter", "aria-describedby": "edit-filter-hint edit-filter-error" },
    el("legend", { text: "Filter" }),
    el("span", { class: "field-hint", id: "edit-filter-hint", text: filterInputs.length
      ? "Only messages about these IDs reach the webhook: one ID a line (or separated by commas), up to 100; empty: any."
      : "This type carries no ID to filter on." }),
    ...filterInputs.map((input) => el("div", { class: "filter-ids" }, el("label", { for: input.id, text: input.name }), input)),
    el("span", { class: "field-error", id: "edit-filter-error", "aria-live": "polite" }));
  const form = el("form", { id: "edit-form", class: "edit-form", novalidate: true, "aria-label": "Edit " + webhookID },
    editField("url", "URL", url, "Checked as at creation; the secret, the log and the sequence counts are kept."),
    headers,
    editField("rateLimit", "Rate limit", rate, "Attempts a second, 1 to 1,000; 0: no limit. Messages held back wait their turn, in order."),
    filter,
    el("div", { class: "row" }, el("button", { type: "submit", text: "Save changes" }),
      el("button", { type: "button", class: "quiet", text: "Cancel", onclick: () => toggleEdit(webhookID) })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    // Only what changed is sent: an omitted field keeps its value.
    const params = { webhookID };
    if (url.value.trim() !== hook.url) params.url = url.value.trim();
    if (Number(rate.value || 0) !== (hook.rateLimit || 0)) params.rateLimit = rate.value === "" ? 0 : Number(rate.value);
    if (change.checked) {
      params.headers = {};
      for (const row of $$(".header-row", rows)) {
        const name = $(".header-name", row).value.trim();
        if (name || $(".header-value", row).value) params.headers[name] = $(".header-value", row).value;
      }
    }
    const wanted = {};
    for (const input of filterInputs) {
      const ids = input.value.split(/[\s,]+/).filter(Boolean);
      if (ids.length) wanted[input.name] = ids;
    }
    if (JSON.stringify(wanted) !== JSON.stringify(hook.filter || {})) params.filter = wanted;
    if (Object.keys(params).length === 1) { say($('#detail [data-outcome="edit"]'), "Nothing changed.", true); return; }
    const result = await call("webhook.update", params);
    if (!result.ok) { markError(form, result.answer); return; }
    state.hooks.set(webhookID, result.answer);
    toggleEdit(webhookID);
    $("#detail .settings-list").replaceChildren(...settingsList(result.answer));
    $("#detail-title").textContent = "Webhook " + hookTitle(webhookID);
    say($('#detail [data-outcome="edit"]'), "Saved: " + Object.keys(params).filter((k) => k !== "webhookID").join(", ") + " changed.", true);
    await loadWebhooks({ announce: false });
  });
  slot.replaceChildren(form);
  url.focus();
}

async function showExamples(webhookID) {
  const detail = openDetail({ kind: "examples", webhookID }, "Request and response examples of " + hookTitle(webhookID));
  const [request, response] = await Promise.all([
    call("webhook.requestExample", { webhookID }, { quiet: true }),
    call("webhook.responseExample", { webhookID }, { quiet: true })]);
  detail.append(el("h4", { text: "What your endpoint receives" }),
    el("pre", { class: "answer", tabindex: "0", "aria-label": "Request example", text: JSON.stringify(request.answer, null, 2) }),
    el("h4", { text: "What it should answer" }),
    el("pre", { class: "answer", tabindex: "0", "aria-label": "Response example", text: JSON.stringify(response.answer, null, 2) }));
}

// ---- The catalog of types -------------------------------------------------------------

async function loadTypes() {
  if (state.types) return state.types;
  const result = await call("webhook.types", {}, { quiet: true });
  if (!result.ok) return null;
  state.types = result.answer.data;
  describeTypeSelects();
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
  let input;
  if (field.enum) {
    input = el("select", { id, name: field.name });
    // A required choice starts unchosen: the first value of a list is no default.
    input.append(el("option", { value: "", text: field.required ? "choose a " + field.name : "any " + field.name }));
    for (const value of field.enum) input.append(el("option", { value, text: value }));
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

function clearErrors(form) {
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  for (const note of form.querySelectorAll(".field-error")) note.textContent = "";
}

// The service's refusal shown at the field it names (a group of inputs too, such as headers).
function markError(form, answer) {
  const field = answer?.error?.field;
  if (!field) return;
  const group = form.querySelector(`fieldset[data-field="${CSS.escape(field)}"]`);
  // In a group, the input the message names (a filter's personID, say), else its first.
  const named = group && $$("textarea[name], input[name]", group).find((i) => answer.error.message.includes(i.name));
  const input = group ? named || group.querySelector("input:not([type=checkbox]), textarea") || group.querySelector("input")
    : form.querySelector(`[name="${CSS.escape(field)}"]`);
  const note = group ? $("#" + CSS.escape(group.id) + "-error", form) : input && $("#" + CSS.escape(input.id) + "-error", form);
  if (!input || !note) return;
  input.setAttribute("aria-invalid", "true");
  note.textContent = answer.error.message;
  input.focus();
}

// Fill a method's fields with what the page has loaded: the level and owner whose webhooks
// are listed (not the level picker's choice before it is loaded), and the webhook in use. A
// value the page put there follows what is loaded, and goes when it no longer applies; a value
// the user typed stays.
function prefill(form) {
  const loaded = state.loaded;
  const inputs = ["eventID", "companyID"].map((name) => form.querySelector(`[name="${name}"]`));
  const typed = (input) => input && input.value && input.value !== input.dataset.prefilled;
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

async function after(method, result, params, form) {
  if (!result.ok) return;
  if (method === "webhook.create") showSecret("Signing secret", result.answer.secret);
  if (method === "webhook.rotateSecret") showSecret("New signing secret", result.answer.secret);
  if (method === "token.create") showSecret("Token", result.answer.tokenID);
  if (method === "webhook.remove") forgetWebhook(params.webhookID);
  if (["webhook.create", "webhook.find", "webhook.remove", "webhook.enable", "webhook.disable"].includes(method)) {
    const level = params.companyID && !params.eventID ? "company" : params.eventID ? "event" : null;
    if (level && (method === "webhook.create" || method === "webhook.find")) {
      session.level.set(level);
      session.owner.set(params[level === "company" ? "companyID" : "eventID"]);
      $("#event").value = session.owner.get();
      applyLevel();
    }
    await loadWebhooks({ announce: false });
  }
  // A one-time secret must be seen: in view, beside the form that made it when the page is wide.
  const secret = $("#secret");
  if (!secret.hidden) {
    const box = secret.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) secret.scrollIntoView({ block: "nearest" });
    const field = form && document.activeElement && form.contains(document.activeElement) ? document.activeElement : null;
    if (field && field.getBoundingClientRect().bottom > window.innerHeight) field.scrollIntoView({ block: "nearest" });
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

function methodItem(method) {
  const formId = "form-" + method.name.replace(/\./g, "-");
  const form = el("form", { id: formId, class: "method-form", hidden: true, novalidate: true, "aria-label": method.name },
    el("p", { class: "method-summary", text: method.summary + " " + method.verbs.join(" or ") + "." }),
    ...method.fields.map((field) => fieldInput(method, field)),
    el("div", { class: "row" }, el("button", { type: "submit", text: "Run " + method.name })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    $("#secret").hidden = true;
    const params = Object.fromEntries(new FormData(form).entries());
    const result = await call(method.name, params, { jump: true });
    if (!result.ok) markError(form, result.answer);
    await after(method.name, result, params, form);
  });
  // Enter runs the method from any field, the type picker (a select) included.
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.tagName === "SELECT") {
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
    state.methods = methodsFrom(await response.json());
  } catch (error) {
    $("#methods-loading").textContent = "The methods could not be read from /openapi.json: " + error.message;
    return;
  }
  $("#methods").replaceChildren(...state.methods.map(methodItem));
  $("#methods-loading").remove();
  describeTypeSelects();
}

document.addEventListener("DOMContentLoaded", async () => {
  $("#token").value = session.token.get();
  $("#event").value = session.owner.get();
  applyLevel();
  $("#token").addEventListener("change", (e) => { session.token.set(e.target.value.trim()); });
  $("#event").addEventListener("change", (e) => { session.owner.set(e.target.value.trim()); });
  $("#level").addEventListener("change", (e) => {
    session.level.set(e.target.value);
    applyLevel();
    $("#hooks").hidden = true;
    hooksNote(`Enter the ${e.target.value} whose webhooks to load.`);
  });
  $("#session").addEventListener("submit", async (event) => {
    event.preventDefault();
    session.token.set($("#token").value.trim());
    session.owner.set($("#event").value.trim());
    await loadWebhooks({ userAsked: true });
  });
  $("#level").addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); $("#session").requestSubmit(); }
  });
  $("#copy-secret").addEventListener("click", (e) => copyText(e.currentTarget, $("#secret-value").textContent, $("#secret-value")));
  $("#show-types").addEventListener("click", () => showTypes());
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.view && $("#detail").contains(document.activeElement)) closeDetail();
  });
  // An open log or message is read again while the page is in view.
  state.timer = setInterval(() => { if (!document.hidden && state.view && !state.view.stopped) refreshView(); }, REFRESH_MS);
  // A link to a place (#event=...&webhook=...&message=...) opens it once the webhooks load.
  window.addEventListener("hashchange", () => { if (readLink()) loadWebhooks({ announce: false }); });
  const linked = location.hash.length > 1 && readLink();
  await loadMethods();
  if (linked || (session.token.get() && session.owner.get())) loadWebhooks({ announce: false });
});
