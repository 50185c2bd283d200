// The web chat's run timeline: each step of a finished run as bars over time (planning, waiting,
// escalated, running), with its model, local or cloud, tokens and cost. Data: GET /v1/jobs/{id}/timeline.
"use strict";
(() => {
  const style = document.createElement("style");
  style.textContent = `
  .timeline { padding:10px 14px 12px; border-top:1px solid var(--line); font-size:12px; }
  .timeline .title { color:var(--muted); margin-bottom:6px; display:flex; gap:12px; flex-wrap:wrap; }
  .timeline .key i { display:inline-block; width:10px; height:10px; border-radius:2px; margin:0 3px -1px 8px; }
  .timeline .row { display:grid; grid-template-columns:110px 1fr 250px; gap:8px; align-items:center; margin:3px 0; }
  .timeline .label { overflow:hidden; text-overflow:ellipsis; white-space:nowrap; font-family:ui-monospace,monospace; }
  .timeline .track { position:relative; height:14px; background:#f1f3f6; border-radius:3px; }
  .timeline .seg { position:absolute; top:0; bottom:0; min-width:2px; border-radius:2px; }
  .timeline .seg.planning { background:#c7d2fe; }
  .timeline .seg.waiting { background:repeating-linear-gradient(45deg,#d1d5db 0 3px,#eceef2 3px 6px); }
  .timeline .seg.escalated { background:#f59e0b; }
  .timeline .seg.running.local { background:var(--local); }
  .timeline .seg.running.cloud { background:var(--cloud); }
  .timeline .seg.running.tool { background:#6b7280; }
  .timeline .seg.failed { outline:2px solid var(--err); }
  .timeline .meta { color:var(--muted); white-space:nowrap; overflow:hidden; text-overflow:ellipsis; }
  .timeline .axis { display:grid; grid-template-columns:110px 1fr 250px; gap:8px; color:var(--muted); }
  .timeline .axis span:last-child { text-align:right; }`;
  document.head.append(style);

  const node = (tag, cls, text) => {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  };

  function segment(kind, start, end, total, where, title) {
    const s = node("div", "seg " + kind + (where ? " " + where : ""));
    s.style.left = (100 * start / total) + "%";
    s.style.width = (100 * Math.max(end - start, 0) / total) + "%";
    s.title = title;
    return s;
  }

  function row(label, track, meta) {
    const r = node("div", "row");
    r.append(node("span", "label", label), track, node("span", "meta", meta));
    return r;
  }

  function draw(line) {
    const box = node("div", "timeline");
    const total = Math.max(line.duration_ms, 1);
    const title = node("div", "title", "timeline · " + Math.round(line.duration_ms) + " ms");
    const key = node("span", "key");
    for (const [cls, name] of [["planning", "planning"], ["waiting", "waiting"], ["escalated", "escalated"],
                               ["running local", "local"], ["running cloud", "cloud"], ["running tool", "tool"]]) {
      const swatch = node("i", "seg " + cls);
      swatch.style.position = "static";
      key.append(swatch, name);
    }
    title.append(key);
    box.append(title);
    const plan = node("div", "track");
    plan.append(segment("planning", 0, line.plan_ms, total, "", "planning: " + Math.round(line.plan_ms) + " ms"));
    box.append(row("(plan)", plan, Math.round(line.plan_ms) + " ms"));
    for (const bar of line.steps) {
      const where = bar.model ? (bar.local ? "local" : "cloud") : "tool";
      const track = node("div", "track");
      track.dataset.step = bar.step_id;
      for (const s of bar.segments) {
        const model = s.model || bar.model || bar.agent;
        const ms = Math.round(s.end_ms - s.start_ms);
        const kindWhere = s.kind === "running" ? where : "";
        const seg = segment(s.kind, s.start_ms, s.end_ms, total, kindWhere, s.kind + (s.kind === "waiting" ? "" : " on " + model) + ": " + ms + " ms");
        if (bar.status === "failed" && s.kind !== "waiting") seg.classList.add("failed");
        track.append(seg);
      }
      const escalated = bar.escalated_from.length ? " · escalated from " + bar.escalated_from.join(", ") : "";
      const meta = (bar.model || bar.agent) + " · " + where + " · " + bar.input_tokens + "+" + bar.output_tokens +
                   " tok · $" + bar.cost_usd.toFixed(6) + (bar.status === "completed" ? "" : " · " + bar.status) + escalated;
      const r = row(bar.step_id, track, meta);
      r.title = meta;
      box.append(r);
    }
    const axis = node("div", "axis");
    axis.append(node("span"), node("span", "", "0 ms"), node("span", "", Math.round(line.duration_ms) + " ms"));
    box.append(axis);
    return box;
  }

  // Called by the chat once a run has ended: fetch its timeline and draw it under the run.
  window.drawTimeline = async (view, jobId, headers) => {
    try {
      const response = await fetch("/v1/jobs/" + encodeURIComponent(jobId) + "/timeline", { headers });
      if (!response.ok) return;
      const box = draw(await response.json());
      view.run.append(box);
      view.run.dataset.timeline = "shown";
    } catch (err) {
      // the timeline is extra: the answer and the step table are already shown
    }
  };
})();
