// The console's only script: live regions, confirmations, countdowns. Pages work without
// it (forms post and pages reload); it only saves reloads. Loaded from our own origin, as
// the Content-Security-Policy requires: no inline script anywhere.
"use strict";

// <div data-live="/console/…/events">: the server sends the region's new HTML when it
// changes; "expired" means the session ended, and a reload leads to the login page.
function connectLive(region) {
  const source = new EventSource(region.dataset.live);
  source.onmessage = (event) => {
    region.innerHTML = event.data;
    region.dataset.updated = String(Date.now());
    startCountdowns(region);
  };
  source.addEventListener("expired", () => {
    source.close();
    window.location.reload();
  });
}

// <form data-confirm="Are you sure?">: asks before posting.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset ? event.target.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// <span data-countdown="SECONDS">: counts down to zero, as m:ss.
function startCountdowns(root) {
  for (const element of root.querySelectorAll("[data-countdown]")) {
    if (element.dataset.counting) continue;
    element.dataset.counting = "1";
    const end = Date.now() + Number(element.dataset.countdown) * 1000;
    const tick = () => {
      const left = Math.max(0, Math.round((end - Date.now()) / 1000));
      element.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
      if (left > 0) window.setTimeout(tick, 1000);
    };
    tick();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const region of document.querySelectorAll("[data-live]")) connectLive(region);
  startCountdowns(document);
});

// Scripts: the line numbers beside a script's text area follow its scrolling, count its
// lines as they are typed, and a link to #line-N puts the cursor on that line.
function startScriptEditor(area, gutter) {
  const follow = () => { gutter.scrollTop = area.scrollTop; };
  const count = () => {
    const lines = area.value.split("\n").length;
    for (let n = gutter.children.length + 1; n <= lines; n++) {
      const item = document.createElement("li");
      item.id = "line-" + n;
      item.textContent = String(n);
      gutter.appendChild(item);
    }
    while (gutter.children.length > Math.max(lines, 1)) gutter.lastElementChild.remove();
    follow();
  };
  const goTo = () => {
    const match = /^#line-(\d+)$/.exec(window.location.hash);
    if (!match) return;
    const lines = area.value.split("\n");
    const line = Math.min(Number(match[1]), lines.length);
    const start = lines.slice(0, line - 1).reduce((sum, text) => sum + text.length + 1, 0);
    area.focus();
    area.setSelectionRange(start, start + lines[line - 1].length);
    const height = area.scrollHeight / lines.length;
    area.scrollTop = Math.max(0, (line - 3) * height);
    follow();
  };
  area.addEventListener("scroll", follow);
  area.addEventListener("input", count);
  window.addEventListener("hashchange", goTo);
  goTo();
}

document.addEventListener("DOMContentLoaded", () => {
  const area = document.querySelector("textarea[data-lines]");
  const gutter = document.querySelector("[data-gutter]");
  if (area && gutter) startScriptEditor(area, gutter);
});
