// The conversation pane (widgets/_conversation.py): a virtualized message list and a composer.
//
// Python keeps the messages and sends incremental custom messages (reset / prepend / upsert /
// typing); this view renders only the rows near the viewport, at offsets computed from measured
// (or, until measured, estimated) row heights. Every text from Python is set with textContent;
// only a message's `html` (sanitized in Python by widgets.render_markdown) goes in as innerHTML.
// Plain modern JS, no imports: it must work offline.
//
// Two traits only a group's view has (widgets/_conversation_group.py; absent, they read as
// false and ""): `group` heads each run of incoming messages with its author's name, in a
// colour of its own; `typing_text` is the typing line as Python words it ("Bob is typing…").

const TOP_PAD = 44;        // the strip above the first message ("Load older messages")
const BOTTOM_PAD = 8;
const OVERSCAN = 500;      // px rendered above and below the viewport
const STICK_SLACK = 24;    // px from the bottom that still counts as "at the bottom"
const TYPING_EVERY = 3000; // ms between two "typing" notices
const READ_EVERY = 1000;   // ms between two read receipts
const LOAD_OLDER_AT = 300; // px from the top that asks for older messages
const GROUP_GAP = 5 * 60 * 1000;
const TICKS = {queued: "\u25F7", sent: "\u2713", delivered: "\u2713\u2713", read: "\u2713\u2713"};
const HUES = 4;            // author colours in a group (conversation.css: .ck-conv-hue0 ..)

function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

function button(cls, text, label, onClick) {
  const b = h("button", cls, text);
  b.type = "button";
  if (label) b.setAttribute("aria-label", label);
  b.addEventListener("click", (ev) => { ev.preventDefault(); onClick(ev); });
  return b;
}

function dayKey(ms) {
  const d = new Date(ms);
  return d.getFullYear() * 10000 + d.getMonth() * 100 + d.getDate();
}

function dayLabel(ms) {
  const now = new Date();
  const key = dayKey(ms);
  if (key === dayKey(now.getTime())) return "Today";
  const y = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (key === dayKey(y.getTime())) return "Yesterday";
  return new Date(ms).toLocaleDateString(undefined,
    {weekday: "short", year: "numeric", month: "short", day: "numeric"});
}

function hhmm(ms) {
  const d = new Date(ms);
  return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
}

function hue(name) { // the same author, the same colour, in every view (FNV-1a of the name)
  let x = 0x811c9dc5;
  for (const ch of String(name || "")) x = Math.imul(x ^ ch.codePointAt(0), 0x01000193) >>> 0;
  return x % HUES;
}

function oneLine(text, max) {
  const s = String(text || "").replace(/\s+/g, " ").trim();
  return s.length > max ? s.slice(0, max - 1) + "\u2026" : s;
}

const encoder = new TextEncoder();

function render({model, el}) {
  // -- state ------------------------------------------------------------------------------
  let msgs = [];
  let heights = [];
  let index = new Map();        // id -> position in msgs
  let offsets = new Float64Array(1);
  let dirty = true;             // offsets need recomputing
  let hasOlder = false;
  let unreadFrom = null;
  let loadingOlder = false;
  let stick = true;             // follow the bottom when messages arrive
  let pinnedTop = 0;            // scrollTop when the list was last at the bottom
  let initialScroll = null;     // applied once the list has a size: "bottom" or {id}
  let scheduled = 0;
  let width = 0;
  let replyTo = null;           // {id, author, preview}
  let editing = null;           // id
  let draft = "";               // the composer's text before an edit started
  let confirmDelete = null;     // id asking "Delete this message?"
  let focusAfterPaint = null;   // {id, flash}
  let lastTyping = 0;
  let lastReadSent = 0;
  let readId = null;            // highest incoming id reported (or pending)
  let readTimer = 0;
  let hiddenRetry = 0;
  let hiddenRetries = 0;
  const rows = new Map();       // id -> rendered row element

  // -- DOM --------------------------------------------------------------------------------
  const root = h("div", "ck-conv");
  root.setAttribute("data-lm-suppress-shortcuts", "true"); // JupyterLab keys stay out of the composer
  const header = h("div", "ck-conv-header");
  const titleEl = h("div", "ck-conv-title");
  const subtitleEl = h("div", "ck-conv-subtitle");
  header.append(titleEl, subtitleEl);

  const errorEl = h("div", "ck-conv-error");
  errorEl.setAttribute("role", "alert");
  const errorText = h("span", "ck-conv-error-text");
  const errorClose = button("ck-conv-icon", "\u00D7", "Dismiss the error", () => {
    model.set("error", "");
    model.save_changes();
  });
  errorEl.append(errorText, errorClose);

  const viewport = h("div", "ck-conv-viewport");
  const list = h("div", "ck-conv-list");
  list.setAttribute("role", "log");
  list.setAttribute("aria-live", "polite");
  list.tabIndex = 0;
  const canvas = h("div", "ck-conv-canvas");
  const top = h("div", "ck-conv-top");
  canvas.append(top);
  list.append(canvas);
  const newBelow = button("ck-conv-newbelow", "New messages \u2193", "New messages: scroll to the newest",
    () => scrollToBottom());
  newBelow.hidden = true;
  viewport.append(list, newBelow);

  const typingEl = h("div", "ck-conv-typing");
  typingEl.setAttribute("aria-live", "polite");

  const composer = h("div", "ck-conv-composer");
  const banner = h("div", "ck-conv-banner");
  banner.hidden = true;
  const hint = h("div", "ck-conv-hint");
  hint.setAttribute("role", "status");
  hint.hidden = true;
  const inputRow = h("div", "ck-conv-inputrow");
  const input = h("textarea", "ck-conv-input");
  input.rows = 1;
  input.setAttribute("aria-label", "Message text: Enter sends, Shift+Enter adds a line");
  const sendButton = button("ck-conv-send", "Send", "Send the message", () => submit());
  inputRow.append(input, sendButton);
  composer.append(banner, hint, inputRow);
  root.append(header, errorEl, viewport, typingEl, composer);
  el.append(root);

  // -- traits -----------------------------------------------------------------------------
  function syncTraits() {
    const title = model.get("title") || "";
    titleEl.textContent = title;
    subtitleEl.textContent = model.get("subtitle") || "";
    subtitleEl.hidden = !subtitleEl.textContent;
    list.setAttribute("aria-label", title ? `Messages ${isGroup() ? "in" : "with"} ${title}` : "Messages");
    input.placeholder = model.get("placeholder") || "";
    const error = model.get("error") || "";
    errorText.textContent = error;
    errorEl.hidden = !error;
    const disabled = !!model.get("disabled");
    input.disabled = disabled;
    sendButton.disabled = disabled;
    renderBanner();
  }
  const traitEvents = ["title", "subtitle", "placeholder", "error", "disabled", "disabled_reason"]
    .map((n) => `change:${n}`);
  for (const ev of traitEvents) model.on(ev, syncTraits);

  function isGroup() { return !!model.get("group"); }
  function syncGroup() { // every row is built again: author lines come or go
    root.classList.toggle("ck-conv-group", isGroup());
    syncTraits();
    mutate(() => { for (let i = 0; i < msgs.length; i++) heights[i] = estimate(i); dropAll(); });
  }
  model.on("change:group", syncGroup);
  function syncTyping() { if (typingActive) setTyping(true); }
  model.on("change:typing_text", syncTyping);

  function maxBytes() { return model.get("max_text_bytes") || 32000; }

  // -- layout -----------------------------------------------------------------------------
  function reindex() {
    index = new Map();
    for (let i = 0; i < msgs.length; i++) index.set(msgs[i].id, i);
  }

  function estimate(i) {
    const m = msgs[i];
    const prev = msgs[i - 1];
    let px = 40 + 20 * Math.floor((m.text || "").length / 70);
    if (m.reply_to) px += 40;
    if (!prev || dayKey(prev.sent_at) !== dayKey(m.sent_at)) px += 36;
    else if (m.direction === "in" && prev.author !== m.author) px += 20;
    return Math.min(px, 2000);
  }

  function layout() {
    if (!dirty) return;
    const n = msgs.length;
    if (offsets.length !== n + 1) offsets = new Float64Array(n + 1);
    offsets[0] = TOP_PAD;
    for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + heights[i];
    canvas.style.height = `${offsets[n] + BOTTOM_PAD}px`;
    dirty = false;
  }

  function indexAt(y) { // the first row whose bottom is below y
    let lo = 0;
    let hi = msgs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (offsets[mid + 1] > y) hi = mid; else lo = mid + 1;
    }
    return lo;
  }

  function atBottom() {
    return list.scrollTop + list.clientHeight >= list.scrollHeight - STICK_SLACK;
  }

  function pinBottom() {
    list.scrollTop = list.scrollHeight;
    pinnedTop = list.scrollTop;
  }

  // A scroll event comes a frame after the scroll: a message arriving in between must not pull
  // back to the bottom a reader who has just scrolled up. Only a user moves scrollTop up from
  // where it was pinned; a viewport that shrank leaves it there.
  function follow() {
    stick = true;
    pinnedTop = list.scrollTop;
  }

  function following() {
    if (stick && list.scrollTop < pinnedTop - 1 && !atBottom()) stick = false;
    return stick;
  }

  function captureAnchor() {
    if (following() || !msgs.length) return {bottom: true};
    layout();
    const i = Math.min(indexAt(list.scrollTop), msgs.length - 1);
    return {id: msgs[i].id, delta: list.scrollTop - offsets[i]};
  }

  function restoreAnchor(anchor) {
    layout();
    if (anchor.bottom) { pinBottom(); return; }
    const i = index.get(anchor.id);
    if (i !== undefined) list.scrollTop = offsets[i] + anchor.delta;
  }

  function drop(id) {
    const row = rows.get(id);
    if (row) { row.remove(); rows.delete(id); }
  }

  function dropAll() {
    for (const row of rows.values()) row.remove();
    rows.clear();
  }

  // Paint the rows near the viewport; true when a measured height differed from the estimate.
  function paint() {
    layout();
    const n = msgs.length;
    const y = list.scrollTop;
    const start = n ? indexAt(Math.max(0, y - OVERSCAN)) : 0;
    const end = n ? Math.min(n, indexAt(y + list.clientHeight + OVERSCAN) + 1) : 0;
    for (const [id, row] of rows) {
      const i = index.get(id);
      if (i === undefined || i < start || i >= end) { row.remove(); rows.delete(id); }
    }
    const created = [];
    for (let i = start; i < end; i++) {
      const id = msgs[i].id;
      let row = rows.get(id);
      if (!row) {
        row = buildRow(i);
        rows.set(id, row);
        canvas.append(row);
        created.push(i);
      }
      row.style.transform = `translateY(${offsets[i]}px)`;
    }
    let changed = false;
    for (const i of created) { // all appended first, then read: one reflow
      const px = rows.get(msgs[i].id).offsetHeight;
      if (px && px !== heights[i]) { heights[i] = px; changed = true; }
    }
    return changed;
  }

  function schedule() {
    if (!scheduled) scheduled = requestAnimationFrame(frame);
  }

  function frame() {
    scheduled = 0;
    if (!list.clientHeight) { // not attached or hidden: the observers call back; a few retries too
      if (!hiddenRetry && hiddenRetries++ < 50) hiddenRetry = setTimeout(() => { hiddenRetry = 0; schedule(); }, 200);
      return;
    }
    hiddenRetries = 0;
    let target = null;
    if (initialScroll) {
      layout();
      target = initialScroll.id !== undefined ? initialScroll.id : null;
      initialScroll = null;
      if (target === null || !index.has(target)) { target = null; stick = true; pinBottom(); }
    }
    // Opened at the unread divider: pin that row to the top while the rows around it are measured.
    for (let round = 0; round < (target === null ? 1 : 3); round++) {
      if (target !== null) {
        layout();
        list.scrollTop = Math.max(0, offsets[index.get(target)] - 8);
        stick = atBottom();
        if (stick) pinnedTop = list.scrollTop;
      }
      for (let pass = 0; pass < 4; pass++) {
        const anchor = captureAnchor();
        if (!paint()) break;
        dirty = true;
        restoreAnchor(anchor);
      }
    }
    if (following() && !atBottom()) pinBottom();
    if (focusAfterPaint) {
      const row = rows.get(focusAfterPaint.id);
      if (row) {
        row.focus({preventScroll: true});
        if (focusAfterPaint.flash) {
          row.classList.add("ck-conv-flash");
          setTimeout(() => row.classList.remove("ck-conv-flash"), 1600);
        }
      }
      focusAfterPaint = null;
    }
    newBelow.hidden = newBelow.hidden || stick;
    maybeLoadOlder();
    maybeRead();
  }

  function mutate(change) {
    const anchor = captureAnchor();
    change();
    dirty = true;
    restoreAnchor(anchor);
    schedule();
  }

  function scrollToBottom() {
    follow();
    newBelow.hidden = true;
    layout();
    pinBottom();
    schedule();
  }

  function scrollToId(id) {
    const i = index.get(id);
    if (i === undefined) return false;
    layout();
    stick = false;
    list.scrollTop = Math.max(0, offsets[i] - list.clientHeight / 3);
    focusAfterPaint = {id, flash: true};
    schedule();
    return true;
  }

  function maybeLoadOlder() {
    if (hasOlder && !loadingOlder && msgs.length && list.scrollTop < LOAD_OLDER_AT) requestOlder();
  }

  function requestOlder() {
    if (!hasOlder || loadingOlder) return;
    loadingOlder = true;
    renderTop();
    model.send({type: "load_older"});
  }

  function maybeRead() {
    if (!msgs.length || document.visibilityState !== "visible" || !document.hasFocus()) return;
    const y = list.scrollTop;
    const bottom = y + list.clientHeight;
    const first = indexAt(y);
    for (let i = Math.min(msgs.length - 1, indexAt(bottom - 1)); i >= first; i--) {
      const m = msgs[i];
      if (offsets[i] >= bottom) continue;
      if (m.direction !== "in") continue;
      const known = readId === null ? undefined : index.get(readId);
      if (known !== undefined && known >= i) return;
      readId = m.id;
      if (!readTimer) {
        readTimer = setTimeout(() => {
          readTimer = 0;
          lastReadSent = Date.now();
          model.send({type: "read", id: readId});
        }, Math.max(0, lastReadSent + READ_EVERY - Date.now()));
      }
      return;
    }
  }

  // -- rows -------------------------------------------------------------------------------
  function renderTop() {
    top.replaceChildren();
    if (hasOlder) {
      top.append(loadingOlder
        ? h("span", "ck-conv-muted", "Loading older messages\u2026")
        : button("ck-conv-link", "Load older messages", null, () => requestOlder()));
    } else if (msgs.length) {
      top.append(h("span", "ck-conv-muted", "This is the start of the conversation"));
    } else {
      top.append(h("span", "ck-conv-muted", "No messages yet"));
    }
  }

  function buildRow(i) {
    const m = msgs[i];
    const prev = msgs[i - 1];
    const out = m.direction === "out";
    const row = h("div", `ck-conv-row ${out ? "ck-conv-out" : "ck-conv-in"}`);
    row.dataset.id = m.id;
    row.tabIndex = -1;
    const newDay = !prev || dayKey(prev.sent_at) !== dayKey(m.sent_at);
    if (newDay) {
      const day = h("div", "ck-conv-day");
      day.setAttribute("role", "separator");
      day.append(h("span", null, dayLabel(m.sent_at)));
      row.append(day);
    }
    const unread = m.id === unreadFrom;
    if (unread) {
      const line = h("div", "ck-conv-unread");
      line.setAttribute("role", "separator");
      line.append(h("span", null, "Unread messages"));
      row.append(line);
    }
    const grouped = prev && !newDay && !unread && prev.direction === m.direction
      && prev.author === m.author && m.sent_at - prev.sent_at < GROUP_GAP;
    if (!out && !grouped) {
      const author = h("div", "ck-conv-author", m.author);
      if (isGroup()) author.classList.add("ck-conv-member", `ck-conv-hue${hue(m.author)}`);
      row.append(author);
    }

    const line = h("div", "ck-conv-line");
    const bubble = h("div", "ck-conv-bubble");
    bubble.setAttribute("aria-label", `${out ? "You" : m.author}, ${hhmm(m.sent_at)}`);
    bubble.setAttribute("role", "group");
    if (m.reply_to) {
      const quote = button("ck-conv-quote", null,
        `In reply to ${m.reply_to.author}: ${oneLine(m.reply_to.preview, 80)}. Show the original`,
        () => scrollToId(m.reply_to.id));
      quote.append(h("span", "ck-conv-quote-author", m.reply_to.author),
        h("span", "ck-conv-quote-text", oneLine(m.reply_to.preview, 140)));
      if (!index.has(m.reply_to.id)) quote.title = "The original is not loaded";
      bubble.append(quote);
    }
    if (m.deleted) {
      bubble.append(h("div", "ck-conv-body ck-conv-deleted", "This message was deleted"));
    } else {
      const body = h("div", "ck-conv-body");
      body.innerHTML = m.html; // sanitized in Python (widgets.render_markdown)
      bubble.append(body);
    }
    const meta = h("div", "ck-conv-meta");
    if (m.edited && !m.deleted) meta.append(h("span", "ck-conv-edited", "edited"));
    meta.append(h("span", "ck-conv-time", hhmm(m.sent_at)));
    if (out) {
      if (m.status === "failed") {
        meta.append(button("ck-conv-retry", "! failed \u2014 retry", "Sending failed: retry",
          () => model.send({type: "retry", id: m.id})));
      } else if (TICKS[m.status]) {
        const tick = h("span", `ck-conv-tick ck-conv-${m.status}`, TICKS[m.status]);
        tick.setAttribute("role", "img");
        tick.setAttribute("aria-label", m.status);
        tick.title = m.status;
        meta.append(tick);
      }
    }
    bubble.append(meta);
    line.append(bubble, buildActions(m));
    row.append(line);
    return row;
  }

  function buildActions(m) {
    const actions = h("div", "ck-conv-actions");
    if (m.deleted) return actions;
    if (confirmDelete === m.id) {
      actions.classList.add("ck-conv-confirming");
      actions.append(h("span", "ck-conv-confirm-text", "Delete this message?"),
        button("ck-conv-action ck-conv-danger", "Delete", "Yes, delete this message", () => {
          confirmDelete = null;
          model.send({type: "delete", id: m.id});
          refreshRow(m.id);
        }),
        button("ck-conv-action ck-conv-cancel", "Cancel", "Keep this message", () => {
          confirmDelete = null;
          refreshRow(m.id, true);
        }));
      return actions;
    }
    const who = m.direction === "out" ? "your message" : `${m.author}'s message`;
    actions.append(button("ck-conv-action", "Reply", `Reply to ${who}`, () => startReply(m.id)));
    if (m.direction === "out") {
      actions.append(button("ck-conv-action", "Edit", "Edit your message", () => startEdit(m.id)),
        button("ck-conv-action", "Delete", "Delete your message", () => {
          confirmDelete = m.id;
          refreshRow(m.id, true);
        }));
    }
    return actions;
  }

  // Rebuild one row (its height may change); focus its first action, or the cancel button.
  function refreshRow(id, focus) {
    mutate(() => drop(id));
    if (focus) {
      requestAnimationFrame(() => requestAnimationFrame(() => {
        const row = rows.get(id);
        const target = row && (row.querySelector(".ck-conv-cancel") || row.querySelector(".ck-conv-action"));
        if (target) target.focus();
      }));
    }
  }

  // -- composer ---------------------------------------------------------------------------
  function renderBanner() {
    banner.replaceChildren();
    const disabled = !!model.get("disabled");
    if (disabled) {
      banner.append(h("span", "ck-conv-banner-text", model.get("disabled_reason") || "Sending is disabled"));
      banner.className = "ck-conv-banner ck-conv-banner-disabled";
    } else if (editing !== null) {
      banner.className = "ck-conv-banner";
      banner.append(h("span", "ck-conv-banner-label", "Editing"),
        h("span", "ck-conv-banner-text", "your message (Escape cancels)"),
        button("ck-conv-icon", "\u00D7", "Cancel editing", () => cancelEdit()));
    } else if (replyTo !== null) {
      banner.className = "ck-conv-banner";
      banner.append(h("span", "ck-conv-banner-label", `Replying to ${replyTo.author}:`),
        h("span", "ck-conv-banner-text", replyTo.preview),
        button("ck-conv-icon", "\u00D7", "Cancel the reply", () => { replyTo = null; renderBanner(); input.focus(); }));
    }
    banner.hidden = !banner.childElementCount;
  }

  function startReply(id) {
    const i = index.get(id);
    if (i === undefined) return;
    const m = msgs[i];
    if (editing !== null) cancelEdit();
    replyTo = {id, author: m.author, preview: oneLine(m.text, 80)};
    renderBanner();
    input.focus();
  }

  function startEdit(id) {
    const i = index.get(id);
    if (i === undefined || model.get("disabled")) return;
    if (editing === null) draft = input.value;
    editing = id;
    replyTo = null;
    input.value = msgs[i].text;
    renderBanner();
    grow();
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  function cancelEdit(focus = true) {
    editing = null;
    input.value = draft;
    draft = "";
    renderBanner();
    grow();
    checkSize();
    if (focus) input.focus();
  }

  function grow() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight + 2, 160)}px`;
  }

  function checkSize() {
    const size = encoder.encode(input.value).length;
    const over = size > maxBytes();
    hint.hidden = !over;
    hint.textContent = over
      ? `Too long to send: ${size.toLocaleString()} bytes of UTF-8, the limit is ${maxBytes().toLocaleString()}.`
      : "";
    return !over;
  }

  function submit() {
    if (model.get("disabled")) return;
    const text = input.value;
    if (!text.trim()) return;
    if (!checkSize()) return;
    if (editing !== null) {
      model.send({type: "edit", id: editing, text});
      editing = null;
      input.value = draft;
      draft = "";
    } else {
      model.send({type: "send", text, reply_to: replyTo ? replyTo.id : null});
      replyTo = null;
      input.value = "";
      follow();
    }
    renderBanner();
    grow();
    checkSize();
  }

  function lastOwnEditable() {
    for (let i = msgs.length - 1; i >= 0; i--) {
      if (msgs[i].direction === "out" && !msgs[i].deleted) return msgs[i].id;
    }
    return null;
  }

  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.altKey && !ev.ctrlKey && !ev.metaKey && !ev.isComposing) {
      ev.preventDefault();
      submit();
    } else if (ev.key === "Enter" && ev.shiftKey && !ev.isComposing) {
      // Inserted here: a host (JupyterLab's notebook) may take Shift+Enter before the textarea.
      ev.preventDefault();
      ev.stopPropagation();
      if (!document.execCommand || !document.execCommand("insertText", false, "\n")) {
        input.setRangeText("\n", input.selectionStart, input.selectionEnd, "end");
        input.dispatchEvent(new Event("input"));
      }
    } else if (ev.key === "Escape" && (editing !== null || replyTo !== null)) {
      ev.preventDefault();
      ev.stopPropagation();
      if (editing !== null) cancelEdit(); else { replyTo = null; renderBanner(); }
    } else if (ev.key === "ArrowUp" && input.value === "" && editing === null) {
      const id = lastOwnEditable();
      if (id !== null) { ev.preventDefault(); startEdit(id); }
    }
  });
  input.addEventListener("input", () => {
    grow();
    checkSize();
    const now = Date.now();
    if (editing === null && input.value.trim() && now - lastTyping >= TYPING_EVERY) {
      lastTyping = now;
      model.send({type: "typing"});
    }
  });

  // -- list events ------------------------------------------------------------------------
  list.addEventListener("scroll", () => {
    stick = atBottom();
    if (stick) { pinnedTop = list.scrollTop; newBelow.hidden = true; }
    schedule();
  }, {passive: true});
  list.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && confirmDelete !== null) {
      const id = confirmDelete;
      confirmDelete = null;
      refreshRow(id, true);
    }
  });
  const onFocus = () => schedule();
  window.addEventListener("focus", onFocus);
  document.addEventListener("visibilitychange", onFocus);
  const resize = new ResizeObserver(() => {
    const w = list.clientWidth;
    if (w !== width) { // rows wrap differently: measure them again
      width = w;
      mutate(dropAll);
    } else {
      schedule();
    }
  });
  resize.observe(list);
  const shown = new IntersectionObserver(() => schedule());
  shown.observe(list);

  // -- messages from Python ---------------------------------------------------------------
  let typingActive = false;
  function setTyping(active) {
    typingActive = active;
    typingEl.textContent = !active ? ""
      : model.get("typing_text") || `${model.get("title") || "Someone"} is typing\u2026`;
  }

  function onMessage(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "reset") {
      const incoming = Array.isArray(msg.messages) ? msg.messages : [];
      const same = msgs.length && incoming.length === msgs.length
        && incoming[0].id === msgs[0].id && incoming[incoming.length - 1].id === msgs[msgs.length - 1].id;
      const apply = () => {
        const kept = same ? heights : null;
        msgs = incoming;
        reindex();
        heights = kept || msgs.map((_, i) => estimate(i));
        dropAll();
        hasOlder = !!msg.has_older;
        unreadFrom = msg.unread_from || null;
        loadingOlder = false;
        if (confirmDelete !== null && !index.has(confirmDelete)) confirmDelete = null;
        if (editing !== null && !index.has(editing)) cancelEdit(false);
        renderTop();
      };
      if (same) mutate(apply); // a second view's handshake: keep this one's scroll position
      else {
        apply();
        dirty = true;
        follow();
        newBelow.hidden = true;
        readId = null;
        initialScroll = unreadFrom ? {id: unreadFrom} : "bottom";
        schedule();
      }
      setTyping(!!msg.typing);
    } else if (msg.type === "prepend") {
      const older = Array.isArray(msg.messages) ? msg.messages : [];
      mutate(() => {
        if (msgs.length) drop(msgs[0].id); // its day separator or author line may go
        msgs = older.concat(msgs);
        reindex();
        heights = older.map((_, i) => estimate(i)).concat(heights);
        hasOlder = !!msg.has_older;
        loadingOlder = false;
        renderTop();
      });
    } else if (msg.type === "upsert" && msg.message && typeof msg.message.id === "string") {
      const m = msg.message;
      const i = index.get(m.id);
      if (i !== undefined) {
        mutate(() => {
          msgs[i] = m;
          drop(m.id);
          if (m.deleted && confirmDelete === m.id) confirmDelete = null;
          if (m.deleted && editing === m.id) cancelEdit(false);
        });
      } else {
        if (m.direction === "out" && m.status === "queued") follow(); // what you just sent
        else following();
        mutate(() => {
          msgs.push(m);
          index.set(m.id, msgs.length - 1);
          heights.push(estimate(msgs.length - 1));
          renderTop();
        });
        if (!stick) newBelow.hidden = false;
      }
    } else if (msg.type === "typing") {
      setTyping(!!msg.active);
    }
  }
  model.on("msg:custom", onMessage);

  root.classList.toggle("ck-conv-group", isGroup());
  syncTraits();
  renderTop();
  model.send({type: "ready"});

  return () => {
    if (scheduled) cancelAnimationFrame(scheduled);
    if (readTimer) clearTimeout(readTimer);
    if (hiddenRetry) clearTimeout(hiddenRetry);
    resize.disconnect();
    shown.disconnect();
    window.removeEventListener("focus", onFocus);
    document.removeEventListener("visibilitychange", onFocus);
    model.off("msg:custom", onMessage);
    for (const ev of traitEvents) model.off(ev, syncTraits);
    model.off("change:group", syncGroup);
    model.off("change:typing_text", syncTyping);
  };
}

export default {render};
