// The API console: every method of the webhook API, with the jar button that opens its fields,
// Enter to run it, and the JSON answer; the webhooks of an event or a company with their health,
// delivery log, messages and the catalog of types. Plain DOM code: no framework, no build,
// nothing fetched from elsewhere. Values are put on the page with textContent, never as HTML.
//
// The methods and their fields are read from the service's own OpenAPI document
// (/openapi.json, generated from the method registry): a method added there shows up here.
"use strict";

const REFRESH_MS = 3000;  // how often an open delivery log or message is read again
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

// What the console shows in its webhook area: null, or {kind, webhookID, ...}.
const state = { view: null, types: null, methods: [], timer: null };

// `quiet` calls (the console refreshing itself) leave the Answer panel to what the user ran.
async function call(method, params, { quiet = false } = {}) {
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
    answer = await response.json();
  } catch (error) {
    answer = { error: { code: "network_error", message: "the service could not be reached: " + error.message, field: null } };
  }
  const result = { status, answer, retryAfter, ok: status >= 200 && status < 300 };
  if (status === 401) tokenRefused(answer);
  if (!quiet) show(method, result);
  return result;
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

function show(method, result) {
  const { ok, text } = verdict(method, result);
  const line = $("#status");
  line.textContent = text;
  line.className = "status " + (ok ? "ok" : "bad");
  $("#answer").textContent = JSON.stringify(result.answer, null, 2);
  if (window.matchMedia("(max-width: 760px)").matches) $("#answer-title").scrollIntoView({ block: "start" });
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
  const message = "The service does not know this token" + (answer?.error?.message ? ` (${answer.error.message})` : "") +
    ". make run prints an admin token when it starts.";
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
  if (result.status === 401) { if (userAsked) $("#token").focus(); return; }
  setFieldError($("#token"), $("#token-error"), "");
  if (!result.ok) {
    table.hidden = true;
    setFieldError($("#event"), $("#event-error"), result.answer?.error?.message || "the webhooks could not be loaded");
    hooksNote(`The webhooks of ${level} ${owner} could not be loaded: ${result.answer?.error?.message || result.status}.`);
    if (userAsked) $("#event").focus();
    return;
  }
  setFieldError($("#event"), $("#event-error"), "");
  $("#hooks-title").textContent = `Webhooks of ${level} ${owner}`;
  const body = $("tbody", table);
  body.replaceChildren(...result.answer.data.map(webhookRow));
  table.hidden = result.answer.count === 0;
  hooksNote(result.answer.count === 0 ? `This ${level} has no webhooks yet: create one with webhook.create.` : "");
  if (!state.types) loadTypes();
  await Promise.all(result.answer.data.map((hook) => fillHealth(hook.webhookID)));
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
      actionButton("Remove", id, (e) => confirmRemove(e.currentTarget, id), { "data-key": "remove" }))));
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

async function setStatus(webhookID, method) {
  await call(method, { webhookID });
  await loadWebhooks({ announce: false });
  focusRowButton(webhookID, "toggle");
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

async function testWebhook(webhookID) {
  const result = await call("webhook.test", { webhookID });
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
  if (opener && document.contains(opener)) opener.focus();
}

function openDetail(view, title, { focus = true } = {}) {
  const opener = state.view?.opener || (document.activeElement !== document.body ? document.activeElement : null);
  state.view = { ...view, opener };
  const detail = $("#detail");
  const heading = el("h3", { id: "detail-title", tabindex: "-1", text: title });
  detail.replaceChildren(el("div", { class: "detail-head" }, heading,
    el("button", { type: "button", class: "quiet", text: "Close", "aria-label": "Close " + title, onclick: closeDetail })));
  detail.setAttribute("role", "region");
  detail.setAttribute("aria-labelledby", "detail-title");
  detail.hidden = false;
  if (focus) heading.focus();
  return detail;
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
  return rows.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { text: value })]);
}

function typeOptions(select, { any = "" } = {}) {
  if (any) select.append(el("option", { value: "", text: any }));
  for (const type of state.types || []) select.append(el("option", { value: type.type, text: type.type }));
  select.append(el("option", { value: "webhook.test", text: "webhook.test" }));
}

async function showLog(webhookID, { focus = true } = {}) {
  const detail = openDetail({ kind: "log", webhookID, messages: new Map(), status: "" }, "Webhook " + webhookID, { focus });
  const health = el("dl", { class: "health-list", "aria-label": "Health over the latest 100 messages" });
  const statusFilter = el("select", { id: "filter-status", name: "status" }, el("option", { value: "", text: "any status" }),
    ...["pending", "delivered", "failed", "skipped"].map((s) => el("option", { value: s, text: s })));
  const typeFilter = el("select", { id: "filter-type", name: "type" });
  typeOptions(typeFilter, { any: "any type" });
  const fromFilter = el("input", { id: "filter-from", name: "from", type: "date" });
  const search = el("input", { id: "filter-message", name: "messageID", placeholder: "msg_...", spellcheck: "false", autocomplete: "off",
    "aria-describedby": "filter-message-error" });
  const searchError = el("span", { id: "filter-message-error", class: "field-error", "aria-live": "polite" });
  const filters = el("form", { class: "filters", "aria-label": "Filter the delivery log", novalidate: true },
    el("div", { class: "filter" }, el("label", { for: "filter-status", text: "Status" }), statusFilter),
    el("div", { class: "filter" }, el("label", { for: "filter-type", text: "Type" }), typeFilter),
    el("div", { class: "filter" }, el("label", { for: "filter-from", text: "From date" }), fromFilter),
    el("div", { class: "filter search" }, el("label", { for: "filter-message", text: "Message ID" }),
      el("div", { class: "row" }, search, el("button", { type: "submit", class: "quiet", text: "Find message" })), searchError));
  filters.addEventListener("submit", async (event) => {
    event.preventDefault();
    const messageID = search.value.trim();
    if (!messageID) { setFieldError(search, searchError, "Enter a message ID."); search.focus(); return; }
    const result = await call("webhook.message", { webhookID, messageID }, { quiet: true });
    if (!result.ok) { setFieldError(search, searchError, result.answer?.error?.message || "not found"); search.focus(); return; }
    showMessage(webhookID, messageID, result.answer);
  });
  statusFilter.addEventListener("change", () => { state.view.status = statusFilter.value; reloadLog(); });
  typeFilter.addEventListener("change", applyFilters);
  fromFilter.addEventListener("change", applyFilters);
  const replayAll = el("button", { type: "button", class: "quiet", text: "Replay failed and skipped",
    "aria-describedby": "replay-all-help", onclick: async () => {
      await call("webhook.redeliver", { webhookID, since: "0" });
      refreshView();
    } });
  detail.append(
    el("h4", { text: "Health" }), health,
    el("h4", { text: "Delivery log" }),
    el("p", { class: "hint", text: `Newest first; it refreshes every ${REFRESH_MS / 1000} s while open.` }),
    filters,
    el("div", { class: "log-actions" }, replayAll,
      el("span", { id: "replay-all-help", class: "hint", text: "Sends again every failed message, and every message skipped while the webhook was disabled." })),
    el("p", { id: "log-count", class: "hint", "aria-live": "polite" }),
    el("div", { class: "messages" }),
    el("button", { type: "button", class: "quiet more", text: "Older messages", hidden: true, onclick: () => olderMessages() }));
  await refreshView();
}

function messageMatches(message) {
  const type = $("#filter-type")?.value, from = $("#filter-from")?.value;
  if (type && message.type !== type) return false;
  if (from && Number(message.date) * 1000 < new Date(from + "T00:00:00").getTime()) return false;
  return true;
}

function applyFilters() {
  const view = state.view;
  if (!view || view.kind !== "log") return;
  let shown = 0;
  for (const article of $$("#detail .messages article")) {
    const visible = messageMatches(view.messages.get(article.dataset.message));
    article.hidden = !visible;
    shown += visible;
  }
  const loaded = view.messages.size;
  $("#log-count").textContent = loaded === 0 ? (view.status ? `No ${view.status} messages.` : "No messages yet.")
    : shown === loaded ? `${loaded} message(s).` : `${shown} of ${loaded} loaded messages match the filters.`;
}

function reloadLog() {
  state.view.messages = new Map();
  $("#detail .messages").replaceChildren();
  state.view.loaded = false;
  refreshView();
}

// Read the first page again and merge it in: new messages on top, changed ones replaced in
// place. Focus stays on what had it, and the page does not scroll.
async function refreshLog(view) {
  const generation = view.generation = (view.generation || 0) + 1;
  const [result, stats] = await Promise.all([
    call("webhook.deliveries", { webhookID: view.webhookID, status: view.status }, { quiet: true }),
    call("webhook.stats", { webhookID: view.webhookID }, { quiet: true }),
  ]);
  if (state.view !== view || view.generation !== generation) return;  // another view, or a newer read
  if (stats.ok) $("#detail .health-list").replaceChildren(...healthList(stats.answer));
  if (!result.ok) return;
  const list = $("#detail .messages");
  if (!view.loaded) { view.cursor = result.answer.cursor; view.loaded = true; }  // older pages come from "Older messages"
  let anchor = list.firstElementChild;
  for (const message of result.answer.data) {
    const existing = $(`article[data-message="${CSS.escape(message.messageID)}"]`, list);
    const signature = JSON.stringify(message);
    if (existing && existing.dataset.signature === signature) { anchor = existing.nextElementSibling; continue; }
    const article = messageRow(view.webhookID, message);
    view.messages.set(message.messageID, message);
    if (existing) {
      const focusedKey = existing.contains(document.activeElement) ? document.activeElement.dataset.key : null;
      existing.replaceWith(article);
      if (focusedKey) $(`[data-key="${focusedKey}"]`, article)?.focus({ preventScroll: true });
      anchor = article.nextElementSibling;
    } else {
      list.insertBefore(article, anchor);
      anchor = article.nextElementSibling;
    }
  }
  $("#detail .more").hidden = !view.cursor;
  applyFilters();
}

async function olderMessages() {
  const view = state.view;
  const result = await call("webhook.deliveries", { webhookID: view.webhookID, status: view.status, cursor: view.cursor }, { quiet: true });
  if (state.view !== view || !result.ok) return;
  const list = $("#detail .messages");
  for (const message of result.answer.data) {
    if (view.messages.has(message.messageID)) continue;
    view.messages.set(message.messageID, message);
    list.append(messageRow(view.webhookID, message));
  }
  view.cursor = result.answer.cursor;
  $("#detail .more").hidden = !view.cursor;
  applyFilters();
}

function replayButton(webhookID, message) {
  return el("button", { type: "button", class: "quiet", text: "Replay", "aria-label": "Replay " + message.messageID, "data-key": "replay",
    disabled: message.status === "pending", title: message.status === "pending" ? "Being delivered: it can be replayed when it is finished" : false,
    onclick: async () => { await call("webhook.redeliver", { webhookID, messageID: message.messageID }); refreshView(); } });
}

function messageRow(webhookID, message) {
  const last = message.attempts[message.attempts.length - 1];
  const outcome = last ? `${message.attempts.length} attempt(s) · last ${last.statusCode ?? "no answer"} · ${last.durationMs} ms` : "not sent yet";
  return el("article", { class: "message", "data-message": message.messageID, "data-signature": JSON.stringify(message) },
    el("div", { class: "message-head" },
      el("button", { type: "button", class: "link", text: message.messageID, "aria-label": "View " + message.messageID, "data-key": "view",
        onclick: () => showMessage(webhookID, message.messageID) }),
      el("span", { class: "badge " + message.status, text: message.status }),
      el("span", { text: message.type }),
      timeOf(message.date),
      el("span", { class: "muted-small", text: outcome + (last?.error ? " · " + last.error : "") }),
      message.nextAttemptDate ? el("span", { class: "muted-small", text: "next attempt " + when(message.nextAttemptDate) }) : null,
      replayButton(webhookID, message)));
}

async function showMessage(webhookID, messageID, answer) {
  const result = answer ? { ok: true, answer } : await call("webhook.message", { webhookID, messageID }, { quiet: true });
  const detail = openDetail({ kind: "message", webhookID, messageID }, "Message " + messageID);
  detail.append(el("div", { class: "row" },
    el("button", { type: "button", class: "quiet", text: "Back to the log", onclick: () => showLog(webhookID) })),
  el("div", { class: "message-body" }));
  renderMessage(result);
}

function renderMessage(result) {
  const box = $("#detail .message-body");
  if (!result.ok) { box.replaceChildren(el("p", { class: "bad-text", text: result.answer?.error?.message || "not found" })); return; }
  const message = result.answer;
  const signature = JSON.stringify(message);
  if (box.dataset.signature === signature) return;
  const focusedKey = box.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  box.dataset.signature = signature;
  const request = message.request;
  const headers = request ? Object.entries(request.headers).map(([name, value]) => `${name}: ${value}`).join("\n") : "";
  const bodyPre = el("pre", { class: "answer", tabindex: "0", "aria-label": "Body sent", text: request ? request.body : "" });
  box.replaceChildren(
    el("dl", { class: "health-list" },
      el("dt", { text: "Status" }), el("dd", {}, el("span", { class: "badge " + message.status, text: message.status })),
      el("dt", { text: "Type" }), el("dd", { text: message.type }),
      el("dt", { text: "Created" }), el("dd", {}, timeOf(message.date)),
      el("dt", { text: "Webhook" }), el("dd", {}, el("code", { text: message.webhookID })),
      message.nextAttemptDate ? el("dt", { text: "Next attempt" }) : null,
      message.nextAttemptDate ? el("dd", { text: when(message.nextAttemptDate) }) : null),
    el("div", { class: "row" }, replayButton(message.webhookID, message),
      request ? el("button", { type: "button", class: "quiet", text: "Copy body", "data-key": "copy-body",
        onclick: (e) => copyText(e.currentTarget, request.body, bodyPre) }) : null),
    el("h4", { text: request ? "What the latest attempt sent" : "Not sent yet" }),
    request ? el("h5", { text: "Headers" }) : null,
    request ? el("pre", { class: "answer", tabindex: "0", "aria-label": "Headers sent", text: headers }) : null,
    request ? el("h5", { text: "Body (exactly as sent)" }) : null,
    request ? bodyPre : null,
    el("h4", { text: "Attempts" }),
    message.attempts.length ? el("ol", { class: "attempts" }, ...message.attempts.map((a) => el("li", {},
      el("span", { text: `Attempt ${a.attempt} · ${when(a.date)} · ${a.statusCode ?? "no answer"} · ${a.durationMs} ms` }),
      a.error ? el("div", { class: "bad-text", text: a.error }) : null,
      a.response ? el("pre", { tabindex: "0", "aria-label": `Answer to attempt ${a.attempt}`, text: a.response }) : null)))
      : el("p", { class: "hint", text: "No attempt yet." }));
  if (focusedKey) $(`[data-key="${focusedKey}"]`, box)?.focus({ preventScroll: true });
}

async function refreshView() {
  const view = state.view;
  if (!view) return;
  if (view.kind === "log") await refreshLog(view);
  if (view.kind === "message") {
    const result = await call("webhook.message", { webhookID: view.webhookID, messageID: view.messageID }, { quiet: true });
    if (state.view === view) renderMessage(result);
  }
}

async function showExamples(webhookID) {
  const detail = openDetail({ kind: "examples", webhookID }, "Request and response examples of " + webhookID);
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
      fields = Object.entries(form.properties || {}).map(([name, schema]) => ({ name, required: required.includes(name), ...schema }));
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
  return el("div", { class: "field" }, el("label", { for: id, text: field.name }),
    field.required ? null : el("span", { class: "optional", text: "optional" }), input, hint, error);
}

function clearErrors(form) {
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  for (const note of form.querySelectorAll(".field-error")) note.textContent = "";
}

function markError(form, answer) {
  const field = answer && answer.error && answer.error.field;
  const input = field && form.querySelector(`[name="${CSS.escape(field)}"]`);
  if (!input) return;
  input.setAttribute("aria-invalid", "true");
  $("#" + CSS.escape(input.id) + "-error", form).textContent = answer.error.message;
  input.focus();
}

// Fill a method's empty fields with what the session knows: the owner and the webhook in use.
function prefill(form) {
  const owner = session.owner.get();
  const ownerInput = form.querySelector(`[name="${ownerField()}"]`);
  const otherInput = form.querySelector(`[name="${ownerField() === "eventID" ? "companyID" : "eventID"}"]`);
  if (ownerInput && !ownerInput.value && owner) {
    if (!otherInput || !otherInput.value) ownerInput.value = owner;
  }
  const hook = form.querySelector('[name="webhookID"]');
  if (hook && !hook.value) hook.value = session.webhook.get();
}

async function after(method, result, params) {
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
    const result = await call(method.name, params);
    if (!result.ok) markError(form, result.answer);
    await after(method.name, result, params);
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
  state.timer = setInterval(() => { if (!document.hidden && state.view) refreshView(); }, REFRESH_MS);
  await loadMethods();
  if (session.token.get() && session.owner.get()) loadWebhooks({ announce: false });
});
