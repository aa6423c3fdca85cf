// The page's behaviour beyond Gradio: elapsed time, where focus goes, the marked candidate,
// and the message announced. It only reads and decorates the DOM Gradio renders.
(() => {
  const GENERATING = ["#generate", "#regenerate", "#refine"];
  let started = 0;  // when the user last asked for an image (browser clock)

  const visible = (selector) => document.querySelector(selector);
  const starting = (event) => {
    const clicked = event.type === "click" && event.target.closest(GENERATING.map((id) => "button" + id).join(","));
    const entered = event.type === "keydown" && event.key === "Enter" && !event.shiftKey &&
      event.target.closest("#prompt, #feedback");
    if (clicked || entered) started = Date.now();
  };
  document.addEventListener("click", starting, true);
  document.addEventListener("keydown", starting, true);

  setInterval(() => {
    for (const elapsed of document.querySelectorAll("#progress .elapsed")) {
      elapsed.textContent = started ? `${Math.floor((Date.now() - started) / 1000)} s` : "";
    }
  }, 250);

  // After an action, focus goes where the user acts next: Approve in review, Download when
  // approved, the prompt after Start Over; a run that ends (or is cancelled) counts too. Focus
  // stays put while an image is made: a second Enter must not land on Cancel (Esc cancels).
  const stageOf = () => (visible("#stage-review") ? "review" : visible("#stage-final") ? "final" : "input");
  const TARGETS = { review: "button#approve", final: "#download a", input: "#prompt textarea" };
  let was = null;
  const settle = () => {
    const now = { stage: stageOf(), running: !!visible("button#cancel") };
    if (was && !now.running && (was.running || was.stage !== now.stage)) {
      visible(TARGETS[now.stage])?.focus();
    }
    was = now;
  };

  // The candidate under review carries the caption's mark: outline it and tell screen readers.
  // Each thumbnail's name starts with its visible caption, so what is seen is what is heard.
  const markCurrent = () => {
    for (const item of document.querySelectorAll("#gallery button.thumbnail-item")) {
      const caption = item.querySelector(".caption-label")?.textContent?.trim() || "";
      const current = caption.endsWith("on screen");
      item.classList.toggle("hitl-current", current);
      if (current) item.setAttribute("aria-current", "true"); else item.removeAttribute("aria-current");
      const position = (item.getAttribute("aria-label") || "").match(/\d+ of \d+/);
      const name = caption && position ? `${caption} (thumbnail ${position[0]})` : null;
      if (name && item.getAttribute("aria-label") !== name) item.setAttribute("aria-label", name);
    }
  };

  // Keyboard first: Ctrl/⌘+Enter generates (or refines, from the feedback box); A approves,
  // R regenerates, C compares two side by side (or stops), Esc cancels (from anywhere: it types nothing), ←/→ move through the
  // candidates. Letters and arrows never fire while the user types in a text box.
  const clickVisible = (selector) => {
    const control = visible(selector);
    if (!control) return false;
    control.click();
    return true;
  };
  const step = (by) => {
    const items = [...document.querySelectorAll("#gallery button.thumbnail-item")];
    const at = items.findIndex((item) => item.getAttribute("aria-current") === "true");
    const next = items[at + by];
    if (at < 0 || !next) return false;
    next.click();
    next.focus();
    return true;
  };
  const SINGLE_KEYS = {
    a: () => clickVisible("button#approve"),
    r: () => clickVisible("button#regenerate"),
    c: () => clickVisible("button#compare") || clickVisible("button#end-compare"),
    ArrowLeft: () => step(-1),
    ArrowRight: () => step(1),
  };
  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest("textarea, input, select, [contenteditable='true']");
    let done = false;
    if (event.key === "Escape") {
      done = clickVisible("button#cancel");
    } else if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      done = event.target.closest("#feedback") ? clickVisible("button#refine") : clickVisible("button#generate");
    } else if (!typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
      done = SINGLE_KEYS[key]?.() ?? false;
    }
    if (done) event.preventDefault();
  });

  // The message is an alert (read out when it appears); Gradio's empty image box gets the role
  // its label needs.
  const announce = () => {
    const status = visible("#status");
    if (status && status.getAttribute("role") !== "alert") status.setAttribute("role", "alert");
    for (const empty of document.querySelectorAll(".empty[aria-label]:not([role])")) empty.setAttribute("role", "img");
  };

  let queued = false;
  new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; settle(); markCurrent(); announce(); });
  }).observe(document.documentElement, { subtree: true, childList: true, characterData: true });
})();
