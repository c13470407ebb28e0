// The sofs dashboard: a view over the node's REST API (/api/v1), refreshed every 2 s.
// No framework and no build step: the page is served as it is by every node; it keeps the account's
// credentials in sessionStorage and sends them (HTTP Basic, over HTTPS) with every API call.
const API = "/api/v1";
let auth = sessionStorage.getItem("sofs-auth");

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return e;
}

async function api(method, path, body) {
  const r = await fetch(API + path, {
    method,
    headers: { Authorization: "Basic " + auth, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (r.status === 401) { signOut("The account or password was not accepted."); throw new Error("401"); }
  // FileIds and SessionIds are 64-bit: keep their digits (JSON.parse source text access) instead of a rounded Number
  const wide = new Set(["FileId", "SessionId"]);
  const data = r.status === 204 ? null : JSON.parse(await r.text(), (k, v, ctx) => (wide.has(k) && ctx?.source) ? ctx.source : v);
  if (!r.ok) throw new Error(data?.error?.message ?? `HTTP ${r.status}`);
  return data;
}

const list = (x) => (Array.isArray(x) ? x : x ? [x] : []);

function rows(section, items, render) {
  const body = $(`#${section} tbody`);
  body.replaceChildren(...items.map(render));
}

function state(text) { return el("td", { class: `state-${text}` }, text); }

async function act(what, method, path, body) {
  const out = $("#action-result");
  try {
    await api(method, path, body);
    out.textContent = `${what}: done`;
    out.className = "";
  } catch (e) {
    out.textContent = `${what}: ${e.message}`;
    out.className = "error";
  }
  refresh();
}

function renderNodes(nodes, full) {
  rows("nodes", nodes, (n) => el("tr", { "data-node": n.Name },
    el("td", {}, n.Name), state(n.State), el("td", {}, n.Address), el("td", {}, n.NodeWeight),
    el("td", {}, n.DynamicWeight), el("td", {}, n.DrainStatus),
    el("td", {}, ...(full ? [
      el("button", { class: "drain", onclick: () => act(`Drain ${n.Name}`, "POST", `/nodes/${encodeURIComponent(n.Name)}/suspend`, { drain: true }) }, "Drain"),
      el("button", { class: "resume", onclick: () => act(`Resume ${n.Name}`, "POST", `/nodes/${encodeURIComponent(n.Name)}/resume`) }, "Resume"),
    ] : []))));
}

const chosen = {};  // group -> the node picked in its "Move to" list (kept across refreshes)

function renderGroups(groups, nodes, full) {
  rows("groups", groups, (g) => {
    const pick = el("select", { class: "target", onchange: (ev) => { chosen[g.Name] = ev.target.value; } },
      ...nodes.filter((n) => n.State === "Up").map((n) => el("option", { value: n.Name }, n.Name)));
    if (chosen[g.Name]) pick.value = chosen[g.Name];
    return el("tr", { "data-group": g.Name }, el("td", {}, g.Name), el("td", {}, g.OwnerNode), state(g.State),
      el("td", {}, g.GroupType), el("td", {}, g.Epoch),
      el("td", {}, ...(full ? [pick, el("button", { class: "move", onclick: () =>
        act(`Move ${g.Name} to ${pick.value}`, "POST", `/groups/${encodeURIComponent(g.Name)}/move`, { node: pick.value }) }, "Move")] : [])));
  });
}

function renderVolumes(volumes, states, nodes, full) {
  rows("volumes", volumes, (v) => {
    const key = "volume:" + v.Name;
    const pick = el("select", { class: "target", onchange: (ev) => { chosen[key] = ev.target.value; } },
      ...nodes.filter((n) => n.State === "Up").map((n) => el("option", { value: n.Name }, n.Name)));
    if (chosen[key]) pick.value = chosen[key];
    const access = states.filter((s) => s.Name === v.Name).map((s) => `${s.Node}: ${s.StateInfo}`).join(", ");
    return el("tr", { "data-volume": v.Name }, el("td", {}, v.Name), el("td", {}, v.Volume), el("td", {}, v.Node),
      state(v.State), el("td", {}, v.Epoch), el("td", {}, access),
      el("td", {}, ...(full ? [pick, el("button", { class: "move-volume", onclick: () =>
        act(`Move ${v.Name} to ${pick.value}`, "POST", `/volumes/${encodeURIComponent(v.Name)}/move`, { node: pick.value }) }, "Move")] : [])));
  });
}

function renderQuorum(q) {
  const dl = $("#quorum dl");
  const items = [["QuorumType", q.QuorumType], ["QuorumResource", q.QuorumResource || "(none: node majority)"],
    ["WitnessState", q.WitnessState], ["WitnessOwnerNode", q.WitnessOwnerNode], ["WitnessLocation", q.WitnessLocation],
    ["WitnessDynamicWeight", q.WitnessDynamicWeight]];
  dl.replaceChildren(...items.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { id: `q-${k}` }, v ?? "")]));
}

function renderOpenFiles(files, full) {
  rows("openfiles", files, (f) => el("tr", { class: f.Durability === "Persistent" ? "persistent" : "", "data-fileid": f.FileId },
    el("td", {}, f.FileId), el("td", {}, f.ShareName), el("td", {}, f.ShareRelativePath), el("td", {}, f.ClientUserName),
    el("td", {}, f.ClientComputerName), el("td", {}, f.ClusterNodeName), el("td", {}, f.Durability || "—"),
    el("td", {}, f.State),
    el("td", {}, ...(full ? [el("button", { class: "close", onclick: () => act(`Close ${f.FileId}`, "DELETE", `/openfiles/${f.FileId}`) }, "Close")] : []))));
}

function renderSessions(sessions, full) {
  rows("sessions", sessions, (s) => el("tr", { "data-session": s.SessionId },
    el("td", {}, s.SessionId), el("td", {}, s.ClientComputerName), el("td", {}, s.ClientUserName),
    el("td", {}, s.ClusterNodeName), el("td", {}, s.Dialect), el("td", {}, s.NumOpens), el("td", {}, s.Channels),
    el("td", {}, s.SecondsIdle),
    el("td", {}, ...(full ? [el("button", { class: "close", onclick: () => act(`Close session ${s.SessionId}`, "DELETE",
      `/sessions/${encodeURIComponent(s.ClusterNodeName)}/${s.SessionId}`) }, "Close")] : []))));
}

function renderWitness(clients, nodes, full) {
  rows("witness", clients, (c) => {
    const key = "witness:" + c.ClientName;
    const pick = el("select", { class: "target", onchange: (ev) => { chosen[key] = ev.target.value; } },
      ...nodes.filter((n) => n.State === "Up").map((n) => el("option", { value: n.Name }, n.Name)));
    if (chosen[key]) pick.value = chosen[key];
    return el("tr", { "data-client": c.ClientName }, el("td", {}, c.ClientName), el("td", {}, c.IpAddress),
      el("td", {}, c.FileServerNodeName), el("td", {}, c.WitnessNodeName), el("td", {}, c.NetworkName),
      el("td", {}, c.ShareName), state(c.State), el("td", {}, c.Version), el("td", {}, c.Notifications),
      el("td", {}, ...(full ? [pick, el("button", { class: "move-client", onclick: () =>
        act(`Move ${c.ClientName} to ${pick.value}`, "POST", `/witness/${encodeURIComponent(c.ClientName)}/move`, { node: pick.value }) }, "Move")] : [])));
  });
}

function renderEvents(events) {
  rows("events", events.slice(-40).reverse(), (e) => el("tr", { class: `sev-${e.Severity}` },
    el("td", {}, new Date(e.Time * 1000).toLocaleTimeString()), el("td", {}, e.Node), el("td", {}, e.Kind), el("td", {}, e.Message)));
}

async function refresh() {
  if (!auth) return;
  try {
    const [me, cluster, nodes, groups, quorum, shares, files, sessions, events, volumes, volstates, witness] = await Promise.all([
      api("GET", "/whoami"), api("GET", "/cluster"), api("GET", "/nodes"), api("GET", "/groups"), api("GET", "/quorum"),
      api("GET", "/shares"), api("GET", "/openfiles"), api("GET", "/sessions"), api("GET", "/events?limit=200"),
      api("GET", "/volumes"), api("GET", "/volumes/state"), api("GET", "/witness")]);
    const full = me.ClusterAccess === "Full";
    $("#cluster-name").textContent = cluster.Name;
    $("#who").textContent = `${me.Name} (${full ? "admin" : "read-only"})`;
    renderNodes(list(nodes), full);
    renderGroups(list(groups), list(nodes), full);
    renderQuorum(quorum);
    renderVolumes(list(volumes), list(volstates), list(nodes), full);
    rows("shares", list(shares), (s) => el("tr", { "data-share": s.Name }, el("td", {}, s.Name), el("td", {}, s.Path),
      el("td", {}, s.ContinuouslyAvailable), el("td", {}, s.EncryptData), el("td", {}, s.ScopeName)));
    renderOpenFiles(list(files), full);
    renderSessions(list(sessions), full);
    renderWitness(list(witness), list(nodes), full);
    renderEvents(list(events));
    $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.loaded = "1";
  } catch (e) {
    $("#updated").textContent = "error: " + e.message;
  }
}

function signOut(message) {
  auth = null;
  sessionStorage.removeItem("sofs-auth");
  $("#dashboard").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
}

$("#login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  auth = btoa(`${$("#user").value}:${$("#password").value}`);
  sessionStorage.setItem("sofs-auth", auth);
  $("#login").hidden = true;
  $("#dashboard").hidden = false;
  refresh();
});

if (auth) { $("#dashboard").hidden = false; refresh(); } else signOut();
setInterval(refresh, 2000);
