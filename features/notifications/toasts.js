// The notification center's front end (anywidget ESM, no imports: works offline).
//
// Draws the toast stack from the synced `toasts` list and the unread badge; every string goes
// in with textContent, colours are JupyterLab CSS variables (Light and Dark). Talks back with
// custom messages only, which the Python side checks:
//   {type: "click", id}        a toast was clicked: the chat opens its conversation
//   {type: "dismiss", id}      a toast's close button (or Escape, or its time ran out)
//   {type: "mute", conversation}   a toast's "Mute" button: no more toasts from its conversation
//   {type: "desktop", id, shown}   whether a browser notification was raised for a new toast
//   {type: "permission", permission}   Notification.permission ("unsupported" without the API)
// From Python: {type: "toast", toast, desktop} for each new toast (raised once per model, in
// initialize, so two views of one widget do not raise two desktop notifications).

const CSS = `
.ck-notify { font-family: var(--jp-ui-font-family, sans-serif); font-size: var(--jp-ui-font-size1, 13px);
  color: var(--jp-ui-font-color1, CanvasText); }
.ck-notify-bar { display: flex; align-items: center; gap: 8px; margin-bottom: 6px; }
.ck-notify-badge { min-width: 1.6em; padding: 1px 7px; border-radius: 10px; text-align: center;
  background: var(--jp-brand-color1, Highlight); color: var(--jp-ui-inverse-font-color1, HighlightText);
  font-weight: 600; }
.ck-notify-badge[data-zero="true"] { display: none; }
.ck-notify-off { color: var(--jp-ui-font-color2, CanvasText); font-style: italic; }
.ck-notify-error { color: var(--jp-error-color1, CanvasText); }
.ck-notify-button { font: inherit; color: var(--jp-ui-font-color1, ButtonText);
  background: var(--jp-layout-color2, ButtonFace); border: 1px solid var(--jp-border-color1, ButtonBorder);
  border-radius: 2px; padding: 2px 8px; cursor: pointer; }
.ck-notify-stack { display: flex; flex-direction: column; gap: 6px; list-style: none; margin: 0; padding: 0; }
.ck-notify-toast { display: flex; align-items: flex-start; gap: 4px; border-radius: 3px;
  background: var(--jp-layout-color1, Canvas); border: 1px solid var(--jp-border-color1, CanvasText);
  box-shadow: var(--jp-elevation-z4, none); max-width: 28em; }
.ck-notify-open { flex: 1; text-align: left; font: inherit; color: inherit; background: transparent; border: 0;
  padding: 6px 8px; cursor: pointer; }
.ck-notify-title { display: block; font-weight: 600; color: var(--jp-ui-font-color0, CanvasText); }
.ck-notify-author { display: block; color: var(--jp-ui-font-color2, CanvasText); }
.ck-notify-text { display: block; color: var(--jp-ui-font-color1, CanvasText); overflow-wrap: anywhere; }
.ck-notify-mute { font: inherit; color: var(--jp-ui-font-color2, CanvasText); background: transparent;
  border: 1px solid var(--jp-border-color2, CanvasText); border-radius: 2px; margin: 6px 0; padding: 1px 6px;
  cursor: pointer; }
.ck-notify-close { font: inherit; font-size: 1.2em; line-height: 1; color: var(--jp-ui-font-color2, CanvasText);
  background: transparent; border: 0; padding: 4px 8px; cursor: pointer; }
.ck-notify button:focus-visible { outline: 2px solid var(--jp-brand-color1, Highlight); outline-offset: 1px; }
.ck-notify-hidden { display: none; }
`;

function permission() {
  return typeof Notification === "undefined" ? "unsupported" : Notification.permission;
}

function span(cls, text) {
  const node = document.createElement("span");
  node.className = cls;
  node.textContent = text;
  return node;
}

function raiseDesktop(model, toast, desktopOn) {
  if (!desktopOn || !model.get("enabled")) return;
  let shown = false;
  if (permission() === "granted") {
    try {
      const body = toast.author ? `${toast.author}: ${toast.text}` : String(toast.text || "");
      const note = new Notification(String(toast.title || ""), { body, tag: String(toast.id) });
      note.onclick = () => {
        window.focus();
        model.send({ type: "click", id: String(toast.id) });
        note.close();
      };
      shown = true;
    } catch (err) {
      shown = false; // e.g. a browser that only allows notifications from a service worker
    }
  }
  model.send({ type: "desktop", id: String(toast.id), shown });
}

function initialize({ model }) {
  const onMessage = (msg) => {
    if (msg && msg.type === "toast" && msg.toast && typeof msg.toast.id === "string") {
      raiseDesktop(model, msg.toast, Boolean(msg.desktop));
    }
  };
  model.on("msg:custom", onMessage);
  model.send({ type: "permission", permission: permission() });
  return () => model.off("msg:custom", onMessage);
}

function render({ model, el }) {
  const style = document.createElement("style");
  style.textContent = CSS;
  const root = document.createElement("div");
  root.className = "ck-notify";

  const bar = document.createElement("div");
  bar.className = "ck-notify-bar";
  const badge = span("ck-notify-badge", "0");
  const badgeLabel = span("ck-notify-off", "");
  const enable = document.createElement("button");
  enable.type = "button";
  enable.className = "ck-notify-button";
  enable.textContent = "Enable desktop notifications";
  enable.addEventListener("click", async () => {
    // A user gesture: the only moment a browser lets a page ask.
    try {
      await Notification.requestPermission();
    } catch (err) {
      /* an old browser's callback form, or refused outright: the answer is read below */
    }
    model.send({ type: "permission", permission: permission() });
    draw();
  });
  const error = span("ck-notify-error", "");
  bar.append(badge, badgeLabel, enable, error);

  const live = document.createElement("ul");
  live.className = "ck-notify-stack";
  live.setAttribute("aria-live", "polite");
  live.setAttribute("aria-label", "Notifications");

  root.append(bar, live);
  el.append(style, root);

  const timers = new Map(); // toast id -> local fallback timer (the kernel also expires toasts)

  function toastItem(toast) {
    const item = document.createElement("li");
    item.className = "ck-notify-toast";
    item.dataset.id = toast.id;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "ck-notify-open";
    open.title = "Open this conversation";
    open.append(span("ck-notify-title", String(toast.title || "")));
    if (toast.author) open.append(span("ck-notify-author", String(toast.author)));
    if (toast.text && toast.text !== toast.title) open.append(span("ck-notify-text", String(toast.text)));
    open.addEventListener("click", () => model.send({ type: "click", id: toast.id }));
    const close = document.createElement("button");
    close.type = "button";
    close.className = "ck-notify-close";
    close.setAttribute("aria-label", `Dismiss notification: ${String(toast.title || "")}`);
    close.textContent = "\u00d7";
    close.addEventListener("click", () => model.send({ type: "dismiss", id: toast.id }));
    const mute = document.createElement("button");
    mute.type = "button";
    mute.className = "ck-notify-mute";
    mute.textContent = "Mute";
    mute.setAttribute("aria-label", `Mute this conversation: ${String(toast.title || "")}`);
    mute.addEventListener("click", () => model.send({ type: "mute", conversation: String(toast.conversation) }));
    item.addEventListener("keydown", (e) => {
      if (e.key === "Escape") model.send({ type: "dismiss", id: toast.id });
    });
    item.append(open, mute, close);
    return item;
  }

  function draw() {
    const toasts = model.get("toasts") || [];
    const unread = Number(model.get("unread") || 0);
    badge.textContent = String(unread);
    badge.dataset.zero = String(unread === 0);
    badge.setAttribute("aria-label", `${unread} unread`);
    badge.title = `${unread} unread message${unread === 1 ? "" : "s"}`;
    badgeLabel.textContent = !model.get("ready") ? "log in for notifications"
      : model.get("enabled") ? "" : "notifications are off";
    enable.classList.toggle("ck-notify-hidden",
      !(permission() === "default" && model.get("desktop") && model.get("enabled")));
    error.textContent = model.get("error") || "";

    const wanted = new Set(toasts.map((t) => t.id));
    for (const item of [...live.children]) {
      if (!wanted.has(item.dataset.id)) item.remove();
    }
    for (const [id, timer] of timers) {
      if (!wanted.has(id)) { clearTimeout(timer); timers.delete(id); }
    }
    const present = new Set([...live.children].map((item) => item.dataset.id));
    const seconds = Number(model.get("toast_seconds") || 6);
    for (const toast of toasts) {
      if (typeof toast.id !== "string" || present.has(toast.id)) continue;
      live.append(toastItem(toast)); // oldest first, newest at the bottom
      timers.set(toast.id, setTimeout(() => model.send({ type: "dismiss", id: toast.id }),
        (seconds + 1) * 1000));
    }
  }

  const names = ["toasts", "unread", "enabled", "desktop", "ready", "error", "toast_seconds"];
  for (const name of names) model.on(`change:${name}`, draw);
  draw();
  return () => {
    for (const name of names) model.off(`change:${name}`, draw);
    for (const timer of timers.values()) clearTimeout(timer);
    timers.clear();
  };
}

export default { initialize, render };
