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

// Scripts: long lines wrap in the text area, and the line numbers beside it stay on the
// lines they number: each number is as tall as its line is once wrapped, measured on a hidden
// copy of the text laid out at the text area's width. The numbers follow the text area's
// scrolling, count its lines as they are typed, and a link to #line-N puts the cursor on that
// line. Without this script the text area does not wrap (wrap="off"), so each line is one row
// and the numbers the server wrote stay right.
function startScriptEditor(area, gutter) {
  area.wrap = "soft";
  area.closest(".script-editor").classList.add("wrapping");
  const mirror = document.createElement("div");
  mirror.className = "script-mirror";
  mirror.setAttribute("aria-hidden", "true");
  document.body.appendChild(mirror);

  const follow = () => { gutter.scrollTop = area.scrollTop; };
  // Each line's height as the text area lays it out.
  const measure = () => {
    const style = window.getComputedStyle(area);
    const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
    mirror.style.width = Math.max(0, area.clientWidth - padding) + "px";
    // One by one: the `font` shorthand reads as empty when it cannot say everything.
    for (const name of ["fontFamily", "fontSize", "fontWeight", "fontStyle", "lineHeight",
      "letterSpacing", "wordSpacing", "tabSize", "fontVariantLigatures", "fontFeatureSettings"]) {
      mirror.style[name] = style[name];
    }
    mirror.replaceChildren(...area.value.split("\n").map((text) => {
      const line = document.createElement("div");
      // An empty line is still one row tall.
      line.textContent = text === "" ? "\u200b" : text;
      return line;
    }));
    const rows = mirror.children;
    for (let n = 0; n < gutter.children.length; n++) {
      const height = n < rows.length ? rows[n].getBoundingClientRect().height : 0;
      gutter.children[n].style.height = height + "px";
    }
    follow();
  };
  let pending = false;
  const remeasure = () => {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(() => { pending = false; measure(); });
  };
  // One number per line of the text, the empty row after a final line break included.
  const renumber = () => {
    const lines = area.value.split("\n").length;
    for (let n = gutter.children.length + 1; n <= lines; n++) {
      const item = document.createElement("li");
      item.id = "line-" + n;
      item.textContent = String(n);
      gutter.appendChild(item);
    }
    while (gutter.children.length > Math.max(lines, 1)) gutter.lastElementChild.remove();
  };
  const count = () => { renumber(); remeasure(); };
  const goTo = () => {
    const match = /^#line-(\d+)$/.exec(window.location.hash);
    if (!match) return;
    const lines = area.value.split("\n");
    const line = Math.max(1, Math.min(Number(match[1]), lines.length));
    const start = lines.slice(0, line - 1).reduce((sum, text) => sum + text.length + 1, 0);
    area.focus();
    area.setSelectionRange(start, start + lines[line - 1].length);
    // Where the line's number sits is where the line is, however the lines above wrap.
    const item = gutter.children[line - 1];
    const row = item ? item.offsetTop - gutter.firstElementChild.offsetTop : 0;
    area.scrollTop = Math.max(0, row - 2 * parseFloat(window.getComputedStyle(area).lineHeight));
    follow();
  };
  area.addEventListener("scroll", follow);
  area.addEventListener("input", count);
  window.addEventListener("hashchange", goTo);
  new ResizeObserver(remeasure).observe(area);
  renumber();
  measure();
  goTo();
}
document.addEventListener("DOMContentLoaded", () => {
  const area = document.querySelector("textarea[data-lines]");
  const gutter = document.querySelector("[data-gutter]");
  if (area && gutter) startScriptEditor(area, gutter);
});
