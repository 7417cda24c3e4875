// x402fac dashboard: plain JS, no build step, nothing loaded from elsewhere.
"use strict";

const $ = (selector) => document.querySelector(selector);
const SVG = "http://www.w3.org/2000/svg";
let credential = sessionStorage.getItem("x402fac-key") || "";

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (credential) headers["Authorization"] = "Bearer " + credential;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.message || response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  if (text instanceof Node) td.appendChild(text); else td.textContent = text == null ? "—" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fillTable(selector, rows, render) {
  const body = $(selector + " tbody");
  body.replaceChildren();
  for (const item of rows) {
    const row = document.createElement("tr");
    render(row, item);
    body.appendChild(row);
  }
  if (!rows.length) {
    const row = document.createElement("tr");
    const td = cell(row, "None yet");
    td.colSpan = $(selector + " thead tr").children.length;
    body.appendChild(row);
  }
}

async function loadStatus() {
  try {
    const status = await fetch("/dashboard/api/status").then((r) => r.json());
    const hour = status.lastHour;
    const rate = hour && hour.successRate != null ? Math.round(hour.successRate * 1000) / 10 + "%" : "no settles";
    const latency = hour && hour.settleLatencyMs != null ? hour.settleLatencyMs + " ms" : "—";
    $("#status-summary").textContent =
      `Facilitator ${status.status}; ledger ${status.ledger}; settle success ${rate}, mean settle time ${latency}.`;
    fillTable("#status-table", status.networks, (row, n) => {
      cell(row, n.network || n.family + " (no worker)");
      cell(row, n.workers, n.workers ? "ok" : "bad");
      cell(row, n.settling);
      cell(row, n.rpcErrors ?? 0, n.rpcErrors ? "bad" : "");
      cell(row, n.settles ?? 0);
      cell(row, n.settleSuccessRate == null ? "—" : Math.round(n.settleSuccessRate * 1000) / 10 + "%");
    });
  } catch (error) {
    $("#status-summary").textContent = "Status unavailable: " + error.message;
  }
}

function drawChart(usage) {
  const width = 600, height = 160, pad = 4;
  const series = [["verify", "#0b4f9c", "verifies"], ["settled", "#0d5c2c", "settled"], ["failed", "#8a1010", "failed settles"]];
  const max = Math.max(1, ...series.flatMap(([name]) => usage.series[name]));
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const step = (width - 2 * pad) / Math.max(1, usage.periods.length - 1);
  for (const [name, color, label] of series) {
    const points = usage.series[name].map((v, i) => `${pad + i * step},${height - pad - (v / max) * (height - 2 * pad)}`);
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", color);
    line.setAttribute("stroke-width", "2");
    line.setAttribute("data-series", name);
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${label}: ${usage.totals[name] ?? 0}`;
    line.appendChild(title);
    svg.appendChild(line);
  }
  $("#chart").replaceChildren(svg);
  $("#chart").setAttribute("aria-label",
    `Chart: ${usage.totals.verify} verifies, ${usage.totals.settled} settled, ${usage.totals.failed} failed settles`);
}

async function loadUsage(me) {
  const [usage, recent] = await Promise.all([api("/dashboard/api/usage?granularity=h&periods=48"), api("/dashboard/api/settlements")]);
  $("#key-name").textContent = `${me.name} (${me.prefix}…)`;
  $("#usage-totals").textContent =
    `${usage.totals.verify} verifies, ${usage.totals.settle} settles (${usage.totals.settled} settled) in the last 48 hours.`;
  drawChart(usage);
  fillTable("#errors-table", Object.entries(usage.errors), (row, [reason, count]) => { cell(row, reason); cell(row, count); });
  const amounts = Object.entries(usage.amounts).flatMap(([network, assets]) => Object.entries(assets).map(([asset, v]) => [network, asset, v]));
  fillTable("#amounts-table", amounts, (row, item) => item.forEach((v) => cell(row, v)));
  fillTable("#settlements-table", recent.settlements, (row, s) => {
    cell(row, new Date(s.at * 1000).toLocaleString());
    cell(row, s.network);
    cell(row, s.outcome, s.outcome === "settled" ? "ok" : "bad");
    if (s.explorer) {
      const link = document.createElement("a");
      link.href = s.explorer; link.textContent = s.transaction; link.rel = "noopener noreferrer";
      cell(row, link);
    } else cell(row, s.transaction || "—");
    cell(row, s.amount ? `${s.amount} ${s.asset}` : "—");
  });
  $("#usage").hidden = false;
}

async function loadAdmin() {
  const [keys, usage] = await Promise.all([api("/admin/keys"), api("/admin/usage?granularity=d&periods=30")]);
  fillTable("#keys-table", keys.keys, (row, k) => {
    const counts = usage.keys[k.id] || {};
    cell(row, k.name); cell(row, k.prefix + "…"); cell(row, k.origin); cell(row, k.ratePerMinute || "none");
    cell(row, counts.verify || 0); cell(row, counts.settle || 0);
    cell(row, k.revokedAt ? "revoked" : "active", k.revokedAt ? "bad" : "ok");
  });
  $("#admin").hidden = false;
}

async function signIn() {
  $("#usage").hidden = true; $("#admin").hidden = true;
  if (!credential) { $("#signout").hidden = true; return; }
  try {
    if (credential.startsWith("x402n_")) {
      const me = await api("/dashboard/api/me");
      await loadUsage(me);
      $("#signin-message").textContent = `Signed in as ${me.name}.`;
    } else {
      await loadAdmin();
      $("#signin-message").textContent = "Signed in as administrator.";
    }
    $("#signout").hidden = false;
  } catch (error) {
    $("#signin-message").textContent = "Sign-in failed: " + error.message;
    credential = ""; sessionStorage.removeItem("x402fac-key");
  }
}

$("#create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const saved = credential;
  credential = "";  // a new key is created anonymously
  try {
    const created = await api("/dashboard/api/keys", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: $("#create-name").value }),
    });
    $("#created-secret").textContent = created.secret;
    $("#created").hidden = false;
    $("#signin-key").value = created.secret;
  } catch (error) {
    $("#created-secret").textContent = "Could not create a key: " + error.message;
    $("#created").hidden = false;
  } finally {
    credential = saved;
  }
});

$("#signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  credential = $("#signin-key").value.trim();
  sessionStorage.setItem("x402fac-key", credential);
  await signIn();
});

$("#signout").addEventListener("click", () => {
  credential = ""; sessionStorage.removeItem("x402fac-key");
  $("#signin-message").textContent = "Signed out.";
  signIn();
});

loadStatus();
setInterval(loadStatus, 5000);
signIn();
