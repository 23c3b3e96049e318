// The API console: every method of the webhook API, with the jar button that opens its fields,
// Enter to run it, and the JSON answer. Plain DOM code: no framework, no build, nothing fetched
// from elsewhere. Values are put on the page with textContent, never as HTML.
"use strict";

const TYPES = ["activityEnrollment", "activityDismissal"];
const STATUSES = ["pending", "delivered", "failed", "skipped"];
const METHODS = [
  { name: "webhook.create", fields: ["eventID", "url", "type"], about: "Register a URL for the event." },
  { name: "webhook.find", fields: ["eventID", "type?"], about: "The event's webhooks." },
  { name: "webhook.remove", fields: ["webhookID"], about: "Remove a webhook." },
  { name: "webhook.requestExample", fields: ["webhookID"], about: "What a delivery looks like." },
  { name: "webhook.responseExample", fields: ["webhookID"], about: "The answer your endpoint should give." },
  { name: "webhook.dispatch", fields: ["type", "eventID", "activityID", "personID", "date?", "data?"], about: "Report an enrollment or dismissal." },
  { name: "webhook.deliveries", fields: ["webhookID", "status?", "limit?", "cursor?"], about: "The delivery log." },
  { name: "webhook.redeliver", fields: ["webhookID", "messageID?", "since?"], about: "Send messages again." },
  { name: "webhook.test", fields: ["webhookID"], about: "Send a test delivery now." },
  { name: "webhook.enable", fields: ["webhookID"], about: "Enable a webhook." },
  { name: "webhook.disable", fields: ["webhookID"], about: "Disable a webhook." },
  { name: "webhook.rotateSecret", fields: ["webhookID"], about: "A new signing secret." },
  { name: "token.create", fields: ["eventID"], about: "A token for events (admin)." },
  { name: "token.revoke", fields: ["tokenID"], about: "Revoke a token (admin)." },
];
const HINTS = {
  url: "https://example.com/hooks/inevent", eventID: "1234", activityID: "98", personID: "5521",
  date: "Unix seconds (optional)", data: '{"seat": "A4"} (optional)', since: "Unix seconds",
  limit: "50", messageID: "msg_...", webhookID: "wh_...", tokenID: "tok_...", cursor: "",
};
const JAR = '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false">' +
  '<path fill="currentColor" d="M8 2h8v3h-1v1.2c2.4.8 4 3 4 5.6V19a3 3 0 0 1-3 3H8a3 3 0 0 1-3-3v-7.2c0-2.6' +
  ' 1.6-4.8 4-5.6V5H8V2zm3 3v2.6l-.7.2C8.4 8.4 7 10 7 11.8V19a1 1 0 0 0 1 1h8a1 1 0 0 0 1-1v-7.2c0-1.8-1.4-3.4-3.3-4' +
  'l-.7-.2V5h-2z"/></svg>';

const $ = (selector, root = document) => root.querySelector(selector);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== false && value !== undefined && value !== null) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

const session = {
  get token() { return sessionStorage.getItem("inevent.token") || ""; },
  set token(value) { sessionStorage.setItem("inevent.token", value); },
  get event() { return sessionStorage.getItem("inevent.event") || ""; },
  set event(value) { sessionStorage.setItem("inevent.event", value); },
};

// `quiet` calls (the table refreshing itself) leave the Answer panel to what the user ran.
async function call(method, params, { quiet = false } = {}) {
  const body = {};
  for (const [key, value] of Object.entries(params)) if (value !== "" && value !== undefined) body[key] = value;
  let status = 0, answer;
  try {
    const response = await fetch("/api/" + method, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + session.token },
      body: JSON.stringify(body),
    });
    status = response.status;
    answer = await response.json();
  } catch (error) {
    answer = { error: { code: "network_error", message: "the service could not be reached: " + error.message, field: null } };
  }
  if (!quiet) show(method, status, answer);
  return { status, answer, ok: status >= 200 && status < 300 };
}

function show(method, status, answer) {
  const line = $("#status");
  line.textContent = method + " → " + (status || "no answer");
  line.className = "status " + (status >= 200 && status < 300 ? "ok" : "bad");
  $("#answer").textContent = JSON.stringify(answer, null, 2);
  if (window.matchMedia("(max-width: 760px)").matches) $("#answer-title").scrollIntoView({ block: "start" });
}

function showSecret(title, value) {
  const box = $("#secret");
  $("strong", box).textContent = title;
  $("#secret-value").textContent = value;
  box.hidden = false;
}

function fieldInput(method, spec) {
  const optional = spec.endsWith("?");
  const name = optional ? spec.slice(0, -1) : spec;
  const id = method.name.replace(".", "-") + "-" + name;
  let input;
  if (name === "type") {
    input = el("select", { id, name });
    if (optional) input.append(el("option", { value: "", text: "any type" }));
    for (const type of TYPES) input.append(el("option", { value: type, text: type }));
  } else if (name === "status") {
    input = el("select", { id, name }, el("option", { value: "", text: "any status" }));
    for (const status of STATUSES) input.append(el("option", { value: status, text: status }));
  } else {
    input = el("input", {
      id, name, placeholder: HINTS[name] || "", spellcheck: "false", autocomplete: "off",
      type: name === "url" ? "url" : "text", inputmode: ["date", "since", "limit"].includes(name) ? "numeric" : false,
      required: !optional,
    });
    if (name === "eventID") input.value = session.event;
  }
  const error = el("span", { class: "field-error", id: id + "-error", "aria-live": "polite" });
  return el("div", { class: "field" }, el("label", { for: id, text: name }),
    optional ? el("span", { class: "optional", text: "optional" }) : null, input, error);
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
  input.setAttribute("aria-describedby", input.id + "-error");
  $("#" + CSS.escape(input.id) + "-error", form).textContent = answer.error.message;
  input.focus();
}

async function after(method, result, params) {
  if (!result.ok) return;
  if (method === "webhook.create") showSecret("Signing secret", result.answer.secret);
  if (method === "webhook.rotateSecret") showSecret("New signing secret", result.answer.secret);
  if (method === "token.create") showSecret("Token", result.answer.tokenID);
  if (["webhook.create", "webhook.remove", "webhook.enable", "webhook.disable"].includes(method)) {
    if (params.eventID) { session.event = params.eventID; $("#event").value = params.eventID; }
    await loadWebhooks(false);
  }
}

function methodItem(method) {
  const formId = "form-" + method.name.replace(".", "-");
  const fields = method.fields.map((spec) => fieldInput(method, spec));
  const form = el("form", { id: formId, class: "method-form", hidden: true, novalidate: true, "aria-label": method.name },
    ...fields, el("div", { class: "row" }, el("button", { type: "submit", text: "Run " + method.name })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    $("#secret").hidden = true;
    const params = Object.fromEntries(new FormData(form).entries());
    const result = await call(method.name, params);
    if (!result.ok) markError(form, result.answer);
    await after(method.name, result, params);
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
    if (open) {
      const eventField = form.querySelector('[name="eventID"]');
      if (eventField && !eventField.value) eventField.value = session.event;
      const first = form.querySelector("input, select");
      if (first) first.focus();
    }
  });
  return el("li", { "data-method": method.name },
    el("div", { class: "method-head" }, jar,
      el("span", { class: "method-name", text: method.name }),
      el("span", { class: "method-verb", text: method.about })),
    form);
}

function when(seconds) {
  return seconds ? new Date(Number(seconds) * 1000).toLocaleString() : "";
}

async function loadWebhooks(announce = true) {
  const event = $("#event").value.trim();
  if (!event || !session.token) return;
  const result = await call("webhook.find", { eventID: event }, { quiet: !announce });
  const table = $("#hooks");
  const body = $("tbody", table);
  body.replaceChildren();
  if (!result.ok) { table.hidden = true; return; }
  for (const hook of result.answer.data) body.append(webhookRow(hook));
  table.hidden = result.answer.count === 0;
  $("#hooks-empty").textContent = result.answer.count === 0 ? "This event has no webhooks yet: create one with webhook.create." : "";
  if (announce && result.answer.count) $("#hooks-empty").textContent = result.answer.count + " webhook(s).";
}

function webhookRow(hook) {
  const id = hook.webhookID;
  const action = (label, handler, extra = {}) =>
    el("button", { type: "button", class: "quiet", text: label, "aria-label": label + " " + id, onclick: handler, ...extra });
  const toggle = hook.status === "enabled"
    ? action("Disable", async () => { await call("webhook.disable", { webhookID: id }); await loadWebhooks(false); })
    : action("Enable", async () => { await call("webhook.enable", { webhookID: id }); await loadWebhooks(false); });
  return el("tr", { "data-webhook": id },
    el("td", {}, el("code", { text: id })),
    el("td", { text: hook.type }),
    el("td", {}, el("span", { class: "mono", text: hook.url })),
    el("td", {}, el("span", { class: "badge " + hook.status, text: hook.status })),
    el("td", {}, el("div", { class: "actions" },
      action("Log", () => showLog(id)),
      action("Test", () => call("webhook.test", { webhookID: id })),
      toggle,
      action("Examples", () => showExamples(id)),
      action("Replay failed", async () => { await call("webhook.redeliver", { webhookID: id, since: "0" }); }),
      action("Remove", async () => { await call("webhook.remove", { webhookID: id }); await loadWebhooks(false); }))));
}

function openDetail(title) {
  const detail = $("#detail");
  detail.replaceChildren(el("h3", { text: title }));
  detail.hidden = false;
  detail.focus();
  return detail;
}

async function showLog(webhookID, cursor) {
  const result = await call("webhook.deliveries", { webhookID, cursor: cursor || "" });
  const detail = cursor ? $("#detail") : openDetail("Delivery log of " + webhookID);
  $(".more", detail)?.remove();
  if (!result.ok) return;
  if (!cursor && result.answer.count === 0) detail.append(el("p", { class: "hint", text: "No messages yet." }));
  for (const message of result.answer.data) detail.append(messageView(webhookID, message));
  if (result.answer.cursor) {
    detail.append(el("button", { type: "button", class: "quiet more", text: "Older messages",
      onclick: () => showLog(webhookID, result.answer.cursor) }));
  }
}

function messageView(webhookID, message) {
  const attempts = el("ol", { class: "attempts", "aria-label": "attempts" });
  for (const attempt of message.attempts) {
    attempts.append(el("li", {},
      el("span", { text: `${when(attempt.date)} · ${attempt.statusCode ?? "no answer"} · ${attempt.durationMs} ms` +
        (attempt.error ? " · " + attempt.error : "") }),
      attempt.response ? el("pre", { text: attempt.response }) : null));
  }
  return el("article", { class: "message", "data-message": message.messageID },
    el("div", { class: "message-head" },
      el("code", { text: message.messageID }),
      el("span", { class: "badge " + message.status, text: message.status }),
      el("span", { text: message.type + " · " + when(message.date) }),
      message.nextAttemptDate ? el("span", { text: "next attempt " + when(message.nextAttemptDate) }) : null,
      el("button", { type: "button", class: "quiet", text: "Replay", "aria-label": "Replay " + message.messageID,
        disabled: message.status === "pending",
        onclick: async () => { await call("webhook.redeliver", { webhookID, messageID: message.messageID }); } })),
    attempts);
}

async function showExamples(webhookID) {
  const detail = openDetail("Request and response examples of " + webhookID);
  const request = await call("webhook.requestExample", { webhookID });
  detail.append(el("h4", { text: "What your endpoint receives" }), el("pre", { class: "answer", text: JSON.stringify(request.answer, null, 2) }));
  const response = await call("webhook.responseExample", { webhookID });
  detail.append(el("h4", { text: "What it should answer" }), el("pre", { class: "answer", text: JSON.stringify(response.answer, null, 2) }));
}

document.addEventListener("DOMContentLoaded", () => {
  $("#token").value = session.token;
  $("#event").value = session.event;
  $("#token").addEventListener("change", (e) => { session.token = e.target.value.trim(); });
  $("#event").addEventListener("change", (e) => { session.event = e.target.value.trim(); });
  $("#session").addEventListener("submit", async (event) => {
    event.preventDefault();
    session.token = $("#token").value.trim();
    session.event = $("#event").value.trim();
    await loadWebhooks();
  });
  $("#copy-secret").addEventListener("click", async () => {
    const value = $("#secret-value").textContent;
    try { await navigator.clipboard.writeText(value); $("#copy-secret").textContent = "Copied"; }
    catch { const range = document.createRange(); range.selectNodeContents($("#secret-value")); getSelection().removeAllRanges(); getSelection().addRange(range); $("#copy-secret").textContent = "Selected: press Ctrl+C"; }
  });
  const list = $("#methods");
  for (const method of METHODS) list.append(methodItem(method));
  if (session.token && session.event) loadWebhooks(false);
});
