// The sandbox page's script: swap in the server-rendered parts when the world changes (server-sent events), and
// send what the person does through the sandbox's documented control routes. No dependencies, no build step.
"use strict";
(() => {
  const boot = JSON.parse(document.body.dataset.boot);
  const state = {person: boot.person, email: boot.person_email, channel: boot.channel, modalKey: boot.modal_key,
                 seen: {}, first: true, dirty: new Set()};
  const $ = (id) => document.getElementById(id);
  const status = (text) => { $("status").textContent = text; };

  async function send(route, body, method = "POST") {
    const response = await fetch(route, {method, headers: {"content-type": "application/json"},
                                         body: body === undefined ? undefined : JSON.stringify(body)});
    let answer = null;
    try { answer = await response.json(); } catch (_) { answer = null; }
    return {ok: response.ok, status: response.status, answer};
  }

  function problem(result) {
    const a = result.answer || {};
    if (a.error) return typeof a.error === "string" ? a.error : (a.error.message || JSON.stringify(a.error));
    if (!result.ok) return `HTTP ${result.status}`;
    return null;
  }

  // A part is not replaced while the person is typing in it; it catches up when they leave it.
  function swap(id, htmlText) {
    const box = $(id);
    if (box.dataset.html === htmlText) return;
    if (box.contains(document.activeElement) && document.activeElement.matches("input, textarea, select")) {
      state.dirty.add(id);
      box.dataset.pending = htmlText;
      return;
    }
    box.innerHTML = htmlText;
    box.dataset.html = htmlText;
    state.dirty.delete(id);
  }
  document.addEventListener("focusout", () => setTimeout(() => {
    for (const id of [...state.dirty]) swap(id, $(id).dataset.pending);
  }, 0));

  function markUnread() {
    for (const link of $("sidebar").querySelectorAll("a[data-channel]")) {
      const id = link.dataset.channel, latest = link.dataset.latest;
      if (id === state.channel || state.first || (state.seen[id] === undefined && latest === "0")) {
        state.seen[id] = latest;
      }
      const unread = state.seen[id] === undefined || latest > state.seen[id];
      link.classList.toggle("unread", unread);
      for (const mark of link.querySelectorAll(".unread-mark")) mark.remove();
      if (unread) link.insertAdjacentHTML("beforeend", '<span class="unread-mark"> (unread)</span>');
    }
    state.first = false;
  }

  let refreshing = null, again = false;
  async function refresh() {
    if (refreshing) { again = true; return refreshing; }
    refreshing = (async () => {
      do {
        again = false;
        const asked = {person: state.person, channel: state.channel};
        const query = new URLSearchParams({as: asked.person});
        if (asked.channel) query.set("channel", asked.channel);
        const response = await fetch(`/sandbox/ui/parts?${query}`);
        if (!response.ok) { status(`The sandbox answered ${response.status}`); break; }
        const parts = await response.json();
        // A channel opened (or a person chosen) while this was on its way: this answer is for the old one, and
        // adopting its channel would undo the click. Ask again instead.
        if (state.channel !== asked.channel || state.person !== asked.person) { again = true; continue; }
        state.channel = parts.channel;
        state.email = parts.person_email;
        const log = $("messages").querySelector(".messages");
        const atBottom = !log || log.scrollHeight - log.scrollTop - log.clientHeight < 40;
        swap("sidebar", parts.sidebar);
        markUnread();
        swap("messages", parts.messages);
        const box = $("composer").querySelector("textarea");
        box.placeholder = parts.placeholder;
        box.setAttribute("aria-label", parts.placeholder);
        if (parts.modal_key !== state.modalKey) {
          $("modal").innerHTML = parts.modal;
          state.modalKey = parts.modal_key;
          const first = $("modal").querySelector("input, textarea, select");
          if (first) first.focus();
        }
        for (const id of ["pagerduty", "servicenow", "clock", "faults"]) swap(id, parts[id]);
        const newLog = $("messages").querySelector(".messages");
        if (newLog && atBottom) newLog.scrollTop = newLog.scrollHeight;
        history.replaceState(null, "", `?${query}`);
      } while (again);
    })();
    try { await refreshing; } finally { refreshing = null; }
  }

  function openChannel(id) {
    state.channel = id;
    refresh();
  }

  // ----- the message box: /commands as Slack sends them, anything else a message ------------------------------
  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = event.target.querySelector("textarea");
    const text = box.value.trim();
    if (!text || !state.channel) return;
    let result;
    if (text.startsWith("/")) {
      const [command, ...rest] = text.split(/\s+/);
      status(`Sending ${command}…`);
      box.value = "";
      result = await send("/sandbox/slack/command", {user: state.person, channel: state.channel, command,
                                                     text: text.slice(command.length).trim()});
      const a = result.answer || {};
      const failed = problem(result) || (a.status !== undefined && a.status !== 200 && a.status !== null
                                         ? `the app answered HTTP ${a.status}` : null);
      status(failed ? `${command} failed with the error "${failed}"` : "");
    } else {
      box.value = "";
      result = await send("/sandbox/slack/message", {user: state.person, channel: state.channel, text});
      const failed = problem(result);
      status(failed ? `Not sent: ${failed}` : "");
      if (failed) box.value = text;
    }
    refresh();
  });
  $("composer").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && event.target.matches("textarea")) {
      event.preventDefault();
      event.target.form.requestSubmit();
    }
  });

  // ----- buttons, with Block Kit confirm objects as dialogs ---------------------------------------------------
  function text(obj) { return obj && typeof obj === "object" ? (obj.text || "") : (obj || ""); }

  function confirmDialog(confirm) {
    return new Promise((resolve) => {
      const overlay = document.createElement("div");
      overlay.className = "overlay";
      const dialog = document.createElement("div");
      dialog.className = "modal confirm";
      dialog.setAttribute("role", "dialog");
      dialog.setAttribute("aria-modal", "true");
      dialog.setAttribute("aria-labelledby", "confirm-title");
      const title = document.createElement("h2");
      title.id = "confirm-title";
      title.textContent = text(confirm.title) || "Are you sure?";
      const body = document.createElement("p");
      body.textContent = text(confirm.text);
      const buttons = document.createElement("div");
      buttons.className = "modal-buttons";
      const deny = document.createElement("button");
      deny.type = "button";
      deny.textContent = text(confirm.deny) || "Cancel";
      const yes = document.createElement("button");
      yes.type = "button";
      yes.className = confirm.style === "danger" ? "danger" : "primary";
      yes.textContent = text(confirm.confirm) || "Yes";
      const done = (answer) => { overlay.remove(); resolve(answer); };
      deny.addEventListener("click", () => done(false));
      yes.addEventListener("click", () => done(true));
      overlay.addEventListener("keydown", (e) => { if (e.key === "Escape") done(false); });
      buttons.append(deny, yes);
      dialog.append(title, body, buttons);
      overlay.append(dialog);
      document.body.append(overlay);
      yes.focus();
    });
  }

  document.addEventListener("click", async (event) => {
    const link = event.target.closest("a[data-channel]");
    if (link) { event.preventDefault(); openChannel(link.dataset.channel); return; }
    const button = event.target.closest("button.bk-button[data-action-id]");
    if (button) {
      const message = button.closest("article[data-ts]");
      if (button.dataset.confirm && !(await confirmDialog(JSON.parse(button.dataset.confirm)))) return;
      status("");
      const result = await send("/sandbox/slack/action", {
        user: state.person, channel: state.channel, message_ts: message.dataset.ts,
        action_id: button.dataset.actionId, value: button.dataset.value});
      const failed = problem(result) || (result.answer && result.answer.error);
      if (failed) status(`The click failed: ${failed}`);
      refresh();
      return;
    }
    const close = event.target.closest("button.close-view");
    if (close) {
      const form = close.closest("form[data-view-id]");
      await send(`/sandbox/ui/views/${form.dataset.viewId}/close`, {user: state.person});
      refresh();
    }
  });

  // ----- modals: submitted as view_submission, errors shown in the form --------------------------------------
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (form.matches("form[data-view-id]")) {
      event.preventDefault();
      const values = {};
      for (const input of form.querySelectorAll("[data-action-id][name]")) {
        if (input.value === "" && !input.required) continue;
        values[input.name] = {[input.dataset.actionId]: input.value};
      }
      const result = await send("/sandbox/slack/view_submission", {user: state.person, view_id: form.dataset.viewId,
                                                                   values});
      const failed = problem(result);
      if (failed) form.querySelector(".form-status").textContent = failed;
      refresh();
      return;
    }
    if (form.matches("form.panel-form")) {
      event.preventDefault();
      const body = {};
      for (const [key, value] of new FormData(form)) body[key] = value;
      const route = form.dataset.route;
      if (route.startsWith("/sandbox/pagerduty/incidents/")) {
        body.user = state.email;
        if (body.to) body.to = [body.to];
      }
      if ("advance_minutes" in body) { body.advance_seconds = Number(body.advance_minutes) * 60; delete body.advance_minutes; }
      for (const key of ["status", "times"]) if (key in body) body[key] = Number(body[key]);
      const result = await send(route, form.dataset.method === "DELETE" ? undefined : body,
                                form.dataset.method || "POST");
      const failed = problem(result);
      status(failed ? `${form.getAttribute("aria-label")}: ${failed}` : `${form.getAttribute("aria-label")}: done`);
      if (!failed) form.reset();
      refresh();
    }
  });

  $("acting-as").addEventListener("change", (event) => {
    state.person = event.target.value;
    state.modalKey = null;
    refresh();
  });

  // ----- live: the server says when the world may have changed ----------------------------------------------
  const events = new EventSource("/sandbox/ui/events");
  events.addEventListener("change", () => refresh());
  events.addEventListener("hello", () => refresh());
  for (const id of ["sidebar", "messages", "pagerduty", "servicenow", "clock", "faults"]) {
    $(id).dataset.html = $(id).innerHTML;
  }
  markUnread();
})();
