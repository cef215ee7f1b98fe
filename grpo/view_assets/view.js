// grpo view: every model-written string reaches the page through textContent only.
(function () {
  "use strict";
  const RUN = JSON.parse(document.getElementById("run-data").textContent);
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : String(v));
  let stage = RUN.stages[RUN.stages.length - 1];

  $("title").textContent = "grpo view: " + RUN.name;
  RUN.stages.forEach((s, i) => $("stage").appendChild(new Option(s.name || "(run)", String(i))));
  $("stage").value = String(RUN.stages.length - 1);
  $("stage").parentElement.style.display = RUN.stages.length > 1 ? "" : "none";

  function chartKeys(metrics) {
    const keys = new Set();
    metrics.forEach((m) => Object.keys(m).forEach((k) => keys.add(k)));
    const wanted = ["reward/mean", "accuracy", "completion/length_mean", "eval/accuracy", "episode/tool_use_rate", "train/loss"];
    const verifiers = [...keys].filter((k) => /^reward\/[^/]+$/.test(k) && k !== "reward/mean" && k !== "reward/std").sort();
    return wanted.filter((k) => keys.has(k)).concat(verifiers);
  }

  function drawCharts() {
    const box = $("charts");
    box.replaceChildren();
    chartKeys(stage.metrics).forEach((key) => {
      const points = stage.metrics.filter((m) => typeof m[key] === "number");
      if (!points.length) return;
      const holder = el("div", "chart");
      holder.dataset.metric = key;
      box.appendChild(holder);
      const opts = { title: key, width: 360, height: 200, scales: { x: { time: false } },
                     series: [{ label: "step" }, { label: key, stroke: "#2563eb", width: 2, points: { show: points.length < 40 } }] };
      new uPlot(opts, [points.map((m) => m.step), points.map((m) => m[key])], holder);
    });
  }

  // "12" (training samples of step 12) and "eval 12" (greedy test samples), by step, eval after
  const stepNumber = (key) => Number(key.replace("eval ", ""));
  function steps() {
    return Object.keys(stage.samples).sort((a, b) => stepNumber(a) - stepNumber(b) || (a.startsWith("eval") ? 1 : -1));
  }

  function fillSteps() {
    const list = steps();
    for (const id of ["step", "step-a", "step-b"]) {
      const select = $(id);
      select.replaceChildren();
      list.forEach((s) => select.appendChild(new Option(s, s)));
    }
    const training = list.filter((k) => !k.startsWith("eval"));
    const evals = list.filter((k) => k.startsWith("eval"));
    const pairFrom = evals.length > 1 ? evals : list;  // the same test prompts at every evaluation
    if (list.length) {
      $("step").value = (training.length ? training : list)[(training.length ? training : list).length - 1];
      $("step-a").value = pairFrom[0];
      $("step-b").value = pairFrom[pairFrom.length - 1];
    }
    const verifiers = new Set();
    Object.values(stage.samples).forEach((rows) => rows.forEach((r) => Object.keys(r.scores || {}).forEach((k) => verifiers.add(k))));
    const select = $("verifier");
    select.replaceChildren(new Option("any", ""));
    [...verifiers].sort().forEach((v) => select.appendChild(new Option(v, v)));
  }

  function promptText(prompt) {
    if (Array.isArray(prompt)) return prompt.map((m) => (m.role || "") + ": " + (m.content || "")).join("\n");
    return String(prompt);
  }

  function sampleCard(record) {
    const card = el("div", "sample");
    const good = (record.reward || 0) > 0;
    const meta = el("div", "meta");
    meta.appendChild(el("span", good ? "good" : "bad", "reward " + fmt(record.reward)));
    const scores = Object.entries(record.scores || {}).map(([k, v]) => k + " " + (v === null ? "n/a" : fmt(v))).join(", ");
    meta.appendChild(el("span", null, "  |  " + scores + "  |  finish " + record.finish_reason + "  |  " +
                        record.completion_tokens + " tokens" + (record.answer !== undefined && record.answer !== null ? "  |  answer " + record.answer : "")));
    card.appendChild(meta);
    card.appendChild(el("div", "text prompt", promptText(record.prompt)));
    if (Array.isArray(record.turns) && record.turns.length) {
      record.turns.forEach((turn) => {
        const node = el("div", "text turn-" + turn.role, turn.text);
        node.title = turn.role === "env" ? "environment turn (no loss)" : "policy turn";
        card.appendChild(node);
      });
    } else {
      card.appendChild(el("div", "text completion", record.completion));
    }
    if (record.details && Object.keys(record.details).length) card.appendChild(el("div", "meta details", JSON.stringify(record.details)));
    return card;
  }

  function passes(record) {
    const min = parseFloat($("min-reward").value);
    if (!Number.isNaN(min) && !((record.reward || 0) >= min)) return false;
    const verifier = $("verifier").value, verdict = $("verdict").value;
    if (verifier && verdict) {
      const score = (record.scores || {})[verifier];
      if (score === null || score === undefined) return false;
      if (verdict === "pass" && !(score >= 0.5)) return false;
      if (verdict === "fail" && !(score < 0.5)) return false;
    }
    if ($("truncated").checked && record.finish_reason !== "length") return false;
    const query = $("search").value.toLowerCase();
    if (query && !(promptText(record.prompt) + "\n" + record.completion).toLowerCase().includes(query)) return false;
    return true;
  }

  function drawSamples() {
    const rows = (stage.samples[$("step").value] || []).filter(passes);
    $("samples").replaceChildren(...rows.map(sampleCard));
    $("count").textContent = rows.length + " of " + (stage.samples[$("step").value] || []).length + " samples";
  }

  function drawCompare() {
    const a = stage.samples[$("step-a").value] || [], b = stage.samples[$("step-b").value] || [];
    const later = new Map();
    b.forEach((r) => { const key = promptText(r.prompt); if (!later.has(key)) later.set(key, r); });
    const pairs = [];
    const seen = new Set();
    a.forEach((r) => {
      const key = promptText(r.prompt);
      if (later.has(key) && !seen.has(key)) { seen.add(key); pairs.push([r, later.get(key)]); }
    });
    $("compare").replaceChildren(...pairs.map(([x, y]) => {
      const row = el("div", "pair");
      row.appendChild(sampleCard(x));
      row.appendChild(sampleCard(y));
      return row;
    }));
    $("compare-count").textContent = pairs.length + " prompt(s) sampled at both steps";
  }

  function drawAll() { drawCharts(); fillSteps(); drawSamples(); drawCompare(); }

  $("stage").addEventListener("change", () => { stage = RUN.stages[Number($("stage").value)]; drawAll(); });
  ["step", "min-reward", "verifier", "verdict", "truncated", "search"].forEach((id) => {
    $(id).addEventListener("input", drawSamples);
    $(id).addEventListener("change", drawSamples);
  });
  ["step-a", "step-b"].forEach((id) => $(id).addEventListener("change", drawCompare));
  drawAll();
  document.body.dataset.ready = "1";
})();
