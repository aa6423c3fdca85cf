// The page's behaviour beyond Gradio: elapsed time, where focus goes, the marked candidate,
// the message announced, and your own pictures (a starting image, a painted region).
(() => {
  // Gradio renders only what is shown, so an element found is an element on screen.
  const $ = (selector) => document.querySelector(selector);
  // What each part redoes after Gradio changes the page: one observer, at most once a frame.
  const tasks = [];
  let queued = false;
  new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; for (const task of tasks) task(); });
  }).observe(document.documentElement, { subtree: true, childList: true, characterData: true });
  const afterChanges = (task) => tasks.push(task);

  // -- Messages: each beside its cause, and gone once the user fixes it ------------------------------------
  // The server names what a message is about, and gives each saying of it a serial (classes on #status, from
  // screen.py). Typing the missing text where it belongs, or picking a picture, fixes it (blank again: it is
  // back); the next action's message has a new serial, so one said again shows again. A message about the
  // picture shows in the picture's drop zone, where this page's own verdict on a picked picture shows too.
  const FIXED_BY = { prompt: ["prompt", "your-prompt", "picture"], feedback: ["feedback"],
                     instruction: ["region-instruction"], picture: ["picture"] };
  let fixed = "";  // the serial of the message whose cause the user fixed
  let verdict = "";  // what this page found wrong with the picture picked last ("" when nothing)
  const spoken = () => {
    const status = $("#status");
    const classes = [...(status?.classList || [])];
    return { status, text: status?.querySelector("textarea")?.value || "",
             about: classes.find((c) => c.startsWith("hitl-about-"))?.slice(11) || "",
             serial: classes.find((c) => c.startsWith("hitl-said-")) || "" };
  };
  const showMessages = () => {
    const said = spoken();
    const current = !!said.serial && said.serial !== fixed;
    said.status?.classList.toggle("hitl-fixed", !!said.serial && !current);
    const error = $("#upload-error");
    const text = said.about === "picture" && current ? said.text : verdict;
    if (error && error.textContent !== text) error.textContent = text;
  };
  const mark = (cause, done) => {  // cause: a text box's id, or "picture"
    const said = spoken();
    if (said.serial && FIXED_BY[said.about]?.includes(cause)) fixed = done ? said.serial : "";
    showMessages();
  };
  document.addEventListener("input", (event) => {
    const box = event.target.closest?.("#prompt, #your-prompt, #feedback, #region-instruction");
    if (box && event.target.matches("textarea")) mark(box.id, !!event.target.value.trim());
  });
  afterChanges(showMessages);

  {
    // The elapsed time counts from the job's start (the server's clock, in data-since), so a reloaded
    // page or a second tab of the session counts from the click that asked for it.
    setInterval(() => {
      for (const elapsed of document.querySelectorAll("#progress .elapsed")) {
        const since = Number(elapsed.dataset.since || 0);
        elapsed.textContent = since ? `${Math.max(0, Math.floor((Date.now() - since) / 1000))} s` : "";
      }
    }, 250);

    // After an action, focus goes where the user acts next: Approve in review, Download when
    // approved, the prompt after Start Over; a run that ends (or is cancelled) counts too. Focus
    // stays put while an image is made: a second Enter must not land on Cancel (Esc cancels).
    const stageOf = () => ($("#stage-review") ? "review" : $("#stage-final") ? "final" : "input");
    const TARGETS = { review: "button#approve", final: "#download a", input: "#prompt textarea" };
    let was = null;
    const settle = () => {
      const now = { stage: stageOf(), running: !!$("button#cancel") };
      if (was && !now.running && (was.running || was.stage !== now.stage)) {
        $(TARGETS[now.stage])?.focus();
      }
      was = now;
    };

    // The candidate under review carries the caption's mark: outline it and tell screen readers.
    // Each thumbnail's name starts with its visible caption, so what is seen is what is heard.
    const markCurrent = () => {
      for (const item of document.querySelectorAll(":is(#gallery, #batch, #review-gallery) button.thumbnail-item")) {
        const caption = item.querySelector(".caption-label")?.textContent?.trim() || "";
        const current = caption.endsWith("on screen");
        item.classList.toggle("hitl-current", current);
        if (current) item.setAttribute("aria-current", "true"); else item.removeAttribute("aria-current");
        const position = (item.getAttribute("aria-label") || "").match(/\d+ of \d+/);
        const name = caption && position ? `${caption} (thumbnail ${position[0]})` : null;
        if (name && item.getAttribute("aria-label") !== name) item.setAttribute("aria-label", name);
        if (caption && item.title !== caption) item.title = caption;  // the whole caption, where the tile cuts it
      }
    };

    // Keyboard first: Ctrl/⌘+Enter generates (refines from the feedback box, remixes from "Your prompt"); A approves,
    // R regenerates, C compares two side by side (or stops), Esc cancels (from anywhere: it types nothing), ←/→ move through the
    // candidates. Letters and arrows never fire while the user types in a text box.
    const clickVisible = (selector) => {
      const control = $(selector);
      if (!control) return false;
      control.click();
      return true;
    };
    const step = (by) => {  // through the batch's grid while it shows (a step focuses one), else all candidates
      const items = [...document.querySelectorAll($("#batch") ? "#batch button.thumbnail-item" : "#gallery button.thumbnail-item")];
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
        const from = event.target.closest("#feedback, #your-prompt")?.id;
        done = clickVisible({ feedback: "button#refine", "your-prompt": "button#remix" }[from] || "button#generate");
      } else if (!typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
        const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
        done = SINGLE_KEYS[key]?.() ?? false;
      }
      if (done) event.preventDefault();
    });

    // The message is an alert (read out when it appears); Gradio's empty image box gets the role
    // its label needs.
    const announce = () => {
      const status = $("#status");
      if (status && status.getAttribute("role") !== "alert") status.setAttribute("role", "alert");
      for (const empty of document.querySelectorAll(".empty[aria-label]:not([role])")) empty.setAttribute("role", "img");
      // Gradio puts a textbox's copy button inside its <label>, which then names the button, not the box.
      const link = $("#review-link textarea, #review-link input");
      if (link && !link.hasAttribute("aria-label")) link.setAttribute("aria-label", "Review link");
    };

    // Gradio's image toolbar: its Download is a link around a button, two Tab stops and two names for one
    // action; the link alone stays, named. The picture itself is a button only for Gradio's select event,
    // which this page does not use: out of the Tab order. Retired when Gradio's toolbar link is the control.
    const toolbar = () => {
      for (const link of document.querySelectorAll("a.download-link:not([aria-label])")) {
        link.setAttribute("aria-label", "Download image");
        const inner = link.querySelector("button");
        inner?.setAttribute("tabindex", "-1");
        inner?.setAttribute("aria-hidden", "true");
      }
      for (const picture of document.querySelectorAll("button:has(> .image-frame):not([tabindex])")) picture.tabIndex = -1;
    };

    afterChanges(() => { settle(); markCurrent(); announce(); toolbar(); });
  }

  // -- Prompts to start from ("Try one"): a click puts the example in the prompt box, to edit or generate --
  document.addEventListener("click", (event) => {
    const example = event.target.closest?.("#examples .hitl-example");
    const box = $("#prompt textarea");
    if (!example || !box) return;
    box.value = example.textContent;
    box.dispatchEvent(new Event("input", { bubbles: true }));  // Gradio's own value follows
    box.focus();
  });

  // -- Your own pictures: a starting image, and a region painted to change ------------------------------
  // Files are read here (FileReader) into data: URLs, and the painted region is exported here as a mask;
  // the Generate and Edit region events' js= takes them as input values (window.hitlStudio), so the bytes
  // travel inside the queue's JSON and stay in memory: Gradio's upload route, which writes files, is never
  // used. The page checks a picture as it is picked (type, bytes, pixels) to say so at once; the server checks
  // everything again.
  {
    let upload = "";  // the picked picture, as a data: URL
    let picking = 0;  // the latest pick: an earlier one still being read gives way to it

    // The first bytes of each type the server takes (it sniffs them too); which types, and every limit,
    // come from the server (the picker's data-*), so the page and the server never disagree.
    const MAGIC = {
      "image/png": [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
      "image/jpeg": [0xff, 0xd8, 0xff],
      "image/webp": [0x52, 0x49, 0x46, 0x46, null, null, null, null, 0x57, 0x45, 0x42, 0x50],
    };
    const MB = 1024 * 1024;
    const limits = () => {
      const data = $(".hitl-upload")?.dataset || {};
      return { bytes: Number(data.maxBytes), side: Number(data.maxSide), min: Number(data.minSide),
               types: (data.types || "").split(" ") };
    };
    const sniff = async (file, types) => {
      const head = new Uint8Array(await file.slice(0, 12).arrayBuffer());
      return types.find((type) => MAGIC[type]?.every((byte, i) => byte === null || head[i] === byte));
    };
    const read = (file) => new Promise((done, fail) => {
      const reader = new FileReader();
      reader.onload = () => done(String(reader.result));
      reader.onerror = fail;
      reader.readAsDataURL(file);
    });
    const measure = (url) => new Promise((done, fail) => {  // the header's size: no pixel is drawn
      const img = new Image();
      img.onload = () => done([img.naturalWidth, img.naturalHeight]);
      img.onerror = fail;
      img.src = url;
    });
    // What is wrong with a picture, in the server's words where it has them; "" when it can be used.
    const problem = async (file, url) => {
      const limit = limits();
      const name = `“${(file.name || "The picture").slice(0, 40)}”`;
      if (file.size > limit.bytes) return `${name} is ${(file.size / MB).toFixed(1)} MB; the limit is ${limit.bytes / MB} MB.`;
      if (!(await sniff(file, limit.types))) return `${name} is not a PNG, JPEG or WebP picture.`;
      const [width, height] = await measure(url).catch(() => [0, 0]);
      if (!width) return `${name} could not be read: the file is damaged or incomplete.`;
      if (Math.max(width, height) > limit.side) {
        return `${name} is ${width} × ${height} pixels; the limit is ${limit.side} on each side. Resize it and try again.`;
      }
      if (Math.min(width, height) < limit.min) return `${name} is ${width} × ${height} pixels: at least ${limit.min} on each side, please.`;
      return "";
    };

    const showPicked = () => {
      const preview = $(".hitl-upload-preview");
      const img = $("#upload-preview");
      if (!preview || !img) return;
      preview.hidden = !upload;
      if (upload && img.getAttribute("src") !== upload) img.src = upload;
      if (!upload) img.removeAttribute("src");
    };
    const say = (text) => { verdict = text; showMessages(); };
    const take = async (file) => {
      if (!file) return;
      const mine = ++picking;
      mark("picture", true);  // a new picture: what was said about the last one, or the blank prompt, is done
      const url = file.size > limits().bytes ? "" : await read(file).catch(() => "");  // too big: not even read
      const wrong = await problem(file, url);
      if (mine !== picking) return;
      if (!wrong) upload = url;  // a refused picture leaves the last good one in place
      say(wrong);
      showPicked();
    };
    document.addEventListener("change", (event) => {
      if (event.target.id !== "upload-file") return;
      take(event.target.files?.[0]);
      event.target.value = "";  // the same file can be picked again after Remove
    });
    document.addEventListener("click", (event) => {
      if (!event.target.closest("#upload-remove")) return;
      upload = "";
      picking++;
      say("");
      showPicked();
      $("#upload-file")?.focus();
    });
    document.addEventListener("paste", (event) => {
      if (!$("#stage-input")) return;  // a starting image belongs to the prompt stage
      const file = [...(event.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
      if (!file) return;
      event.preventDefault();
      take(file);
    });
    document.addEventListener("dragover", (event) => { if (event.target.closest?.(".hitl-upload")) event.preventDefault(); });
    document.addEventListener("drop", (event) => {
      if (!event.target.closest?.(".hitl-upload")) return;
      event.preventDefault();
      take(event.dataTransfer?.files?.[0]);
    });

    // The brush: a canvas over the picture on screen, at the picture's natural size, so the mask
    // matches the image pixel for pixel whatever size it is shown at. Pointer events: mouse, touch, pen.
    let canvas = null;
    let painting = false;
    let painted = false;
    let last = null;
    const picture = () => $("#image img");
    const brush = () => Number($("#brush-size")?.value || 40);

    const place = (img) => {
      // Where the picture is drawn inside its <img> box (object-fit keeps its ratio).
      const box = img.getBoundingClientRect();
      const parent = img.parentElement.getBoundingClientRect();
      const fit = getComputedStyle(img).objectFit;
      let scale = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
      if (fit === "scale-down") scale = Math.min(scale, 1);
      if (fit === "none") scale = 1;
      const width = fit === "fill" ? box.width : img.naturalWidth * scale;
      const height = fit === "fill" ? box.height : img.naturalHeight * scale;
      Object.assign(canvas.style, {
        left: `${box.left - parent.left + (box.width - width) / 2}px`,
        top: `${box.top - parent.top + (box.height - height) / 2}px`,
        width: `${width}px`, height: `${height}px`,
      });
    };
    const at = (event) => {
      const r = canvas.getBoundingClientRect();
      return [(event.clientX - r.left) * canvas.width / r.width, (event.clientY - r.top) * canvas.height / r.height];
    };
    const stroke = (from, to) => {
      const context = canvas.getContext("2d");
      context.strokeStyle = "#2563eb";
      context.lineCap = context.lineJoin = "round";
      context.lineWidth = brush() * canvas.width / canvas.getBoundingClientRect().width;
      context.beginPath();
      context.moveTo(...from);
      context.lineTo(...to);
      context.stroke();
      painted = true;
    };
    const create = (img) => {
      canvas?.remove();
      canvas = document.createElement("canvas");
      canvas.id = "paint-canvas";
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      canvas.dataset.src = img.currentSrc || img.src;
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", "The painted region: where the picture will change");
      painted = false;
      canvas.addEventListener("pointerdown", (event) => {
        if (!painting) return;
        event.preventDefault();
        canvas.setPointerCapture(event.pointerId);
        last = at(event);
        stroke(last, last);
      });
      canvas.addEventListener("pointermove", (event) => {
        if (!last) return;
        const next = at(event);
        stroke(last, next);
        last = next;
      });
      for (const end of ["pointerup", "pointercancel"]) canvas.addEventListener(end, () => { last = null; });
      if (getComputedStyle(img.parentElement).position === "static") img.parentElement.style.position = "relative";
      img.parentElement.appendChild(canvas);
    };
    const sync = () => {
      // One canvas per picture: a new candidate on screen starts a clean one; leaving review drops it.
      const img = picture();
      const review = !!$("#stage-review");
      if (!review || !img || !img.naturalWidth) {
        if (!review) setPainting(false);
        return;
      }
      if (!canvas || !canvas.isConnected || canvas.dataset.src !== (img.currentSrc || img.src)) {
        if (!painting && !painted) return;
        create(img);
      }
      canvas.classList.toggle("hitl-painting", painting);
      place(img);
    };
    const setPainting = (on) => {
      painting = on;
      const toggle = $("#paint-toggle");
      if (toggle) toggle.setAttribute("aria-pressed", String(on));
      // A batch shown as a grid: its marked one comes up at full size to paint on (sync follows it).
      if (on && !picture()) $("#batch button[aria-current='true']")?.click();
      if (on) sync(); else if (canvas) canvas.classList.remove("hitl-painting");
    };
    const clear = () => {
      canvas?.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
      painted = false;
    };
    document.addEventListener("click", (event) => {
      if (event.target.closest("#paint-toggle")) setPainting(!painting);
      else if (event.target.closest("#paint-clear")) clear();
    });

    const mask = () => {
      // OpenAI's mask: fully transparent (alpha 0) where to change, opaque elsewhere, at the image's size.
      if (!canvas || !canvas.isConnected || !painted) return "";
      const out = document.createElement("canvas");
      out.width = canvas.width;
      out.height = canvas.height;
      const context = out.getContext("2d");
      context.fillStyle = "#000";
      context.fillRect(0, 0, out.width, out.height);
      context.globalCompositeOperation = "destination-out";
      context.drawImage(canvas, 0, 0);
      return out.toDataURL("image/png");
    };
    // What this tab shows, sent with every action that acts on a picture, so the server acts on the
    // very candidates this tab showed (another tab of the session may have moved on meanwhile): the one
    // at full size (left while comparing; the marked tile while the batch shows as a grid) and the one beside it.
    const seen = () => {
      const stage = $("#stage-review") ? "user_feedback" : $("#stage-final") ? "final" : "initial_input";
      const src = (selector) => $(selector)?.getAttribute("src") || "";
      const screen = src("#image img") || src("#batch button[aria-current='true'] img");
      return JSON.stringify({ stage, screen, beside: $("#compare-bar") ? src("#beside img") : "" });
    };
    window.hitlStudio = { upload: () => upload, mask, seen };

    let wasReview = false;
    afterChanges(() => {
      const review = !!$("#stage-review");
      if (review && !wasReview) upload = "";  // it became the first version: the next prompt starts afresh
      wasReview = review;
      showPicked();
      sync();
    });
    window.addEventListener("resize", sync);
  }

  // -- One Tab stop per radio group: Gradio 6.31 names each radio input on its own ("radio-1", "radio-2", …),
  // so each is a group of one and a Tab stop. One name per group makes them a native group: Tab enters at the
  // checked one and leaves, arrow keys move within. Gradio renames them on every change, so this follows.
  // Retired when Gradio's BaseRadio names its inputs once per group.
  {
    const group = (input) => input.closest("fieldset[id], .block[id]")?.id;
    const regroup = () => {
      for (const input of document.querySelectorAll("input[type='radio']")) {
        const name = group(input) && `hitl-${group(input)}`;
        if (name && input.name !== name) input.name = name;
      }
    };
    new MutationObserver(regroup).observe(document.documentElement, { subtree: true, attributeFilter: ["name"] });
    afterChanges(regroup);
  }

  // -- Drafts: typed feedback and "what to change there" survive a reload (kept in this browser only,
  // like the recent prompts; the prompt itself is the session's from the click on) -------------------
  {
    const DRAFTS = { "#feedback textarea": "hitl-draft-feedback", "#region-instruction textarea": "hitl-draft-region" };
    document.addEventListener("input", (event) => {
      for (const [selector, key] of Object.entries(DRAFTS)) {
        if (event.target.matches?.(selector)) localStorage.setItem(key, event.target.value);
      }
    });
    afterChanges(() => {
      for (const [selector, key] of Object.entries(DRAFTS)) {
        const box = $(selector);
        if (!box) continue;
        if (box.dataset.hitlRestored) {
          if (!box.value) localStorage.removeItem(key);  // emptied by the app (a Refine done): no draft left
          continue;
        }
        box.dataset.hitlRestored = "1";  // once per box Gradio draws: restoring never fights typing
        const draft = localStorage.getItem(key);
        if (draft && !box.value) {
          box.value = draft;
          box.dispatchEvent(new Event("input", { bubbles: true }));  // Gradio's own value follows
        }
      }
    });
    // Drafts belong to the work under review: Start Over lets them go.
    document.addEventListener("click", (event) => {
      if (event.target.closest("button#discard, button#start-over")) {
        for (const key of Object.values(DRAFTS)) localStorage.removeItem(key);
      }
    }, true);
  }
})();
