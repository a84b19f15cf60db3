// The do-not-call import with a progress bar: the form is sent by fetch with
// "X-Progress: ndjson" and the server answers with one JSON line per batch, then the
// report. Without this script the form posts as usual and the page shows the report.
(function () {
  "use strict";
  const form = document.getElementById("import-form");
  if (!form || !window.fetch || !window.TextDecoder) return;
  const box = document.getElementById("import-progress");
  const bar = document.getElementById("import-bar");
  const status = document.getElementById("import-status");
  const report = document.getElementById("import-report");

  function say(el, text, cls) {
    el.textContent = "";
    const p = document.createElement("p");
    if (cls) p.className = cls;
    p.textContent = text;
    el.appendChild(p);
  }

  function show(r) {
    say(report, "Read " + r.read + " numbers: " + r.added + " added, " + r.already_listed +
      " already listed, " + r.rejected + " rejected.", "notice");
    if (r.rejected_lines && r.rejected_lines.length) {
      const ul = document.createElement("ul");
      ul.className = "rejected";
      for (const x of r.rejected_lines) {
        const li = document.createElement("li");
        li.textContent = "line " + x.line + ": \u201c" + x.value + "\u201d " + x.reason;
        ul.appendChild(li);
      }
      report.appendChild(ul);
    }
  }

  // the list as it is now (the page's search and page kept), once the import is done
  async function refresh() {
    const list = document.getElementById("dnc-list");
    try {
      const r = await fetch(window.location.href, { credentials: "same-origin" });
      if (!r.ok) return;
      const html = new DOMParser().parseFromString(await r.text(), "text/html");
      const fresh = html.getElementById("dnc-list");
      if (list && fresh) list.replaceWith(fresh);
    } catch (e) { /* the list shows the import on the next visit */ }
  }

  function step(u) {
    if (u.report) {
      bar.value = 100;
      status.textContent = "Import done.";
      show(u.report);
      refresh();
      return;
    }
    if (u.error) { say(report, u.error, "error"); status.textContent = "Import stopped."; return; }
    const pct = u.total ? Math.floor((u.done * 100) / u.total) : 0;
    bar.value = pct;
    status.textContent = pct + "% of the file read, " + u.listed + " numbers processed";
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    box.hidden = false;
    bar.value = 0;
    report.textContent = "";
    status.textContent = "Sending the file\u2026";
    try {
      const r = await fetch(form.action, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { "X-Progress": "ndjson" },
      });
      if (!r.ok || !r.body) {
        say(report, "The import was refused (HTTP " + r.status + "). Reload the page and try again.", "error");
        status.textContent = "";
        return;
      }
      const reader = r.body.getReader();
      const decoder = new TextDecoder();
      let pending = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += decoder.decode(value, { stream: true });
        const lines = pending.split("\n");
        pending = lines.pop();
        for (const line of lines) if (line.trim()) step(JSON.parse(line));
      }
      if (pending.trim()) step(JSON.parse(pending));
    } catch (e) {
      say(report, "The import could not finish: " + e, "error");
    } finally {
      button.disabled = false;
      form.reset();
    }
  });
})();
