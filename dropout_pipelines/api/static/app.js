// The instructor page: plain JavaScript over the read API, no build step.
// Every value from the API is written with textContent (never innerHTML), so a name like
// "<img onerror=…>" shows as text.
"use strict";

const state = { token: sessionStorage.getItem("dropout_token") || "", course: "", page: 1,
  pageSize: 50, sort: "risk", order: "desc", q: "", level: "", total: 0, student: null };
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const fmt = (value, digits = 1) => value === null || value === undefined ? "–" : Number(value).toFixed(digits);
const pct = (value) => value === null || value === undefined ? "–" : `${(Number(value) * 100).toFixed(0)}%`;
const when = (iso) => iso ? iso.replace("T", " ").slice(0, 16) : "–";

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function say(text) { $("message").textContent = text || ""; }

async function api(path, options = {}) {
  const response = await fetch(`/api/${path}`, {
    ...options,
    headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/json" },
  });
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (response.status === 401) { signOut("That token was not accepted."); throw new Error("401"); }
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

const course = () => encodeURIComponent(state.course);

function signOut(message) {
  state.token = "";
  sessionStorage.removeItem("dropout_token");
  $("sign-in-form").hidden = false;
  $("signed-in").hidden = true;
  $("dashboard").hidden = true;
  say(message);
}

async function signIn(token) {
  state.token = token;
  const { courses } = await api("courses");
  sessionStorage.setItem("dropout_token", token);
  $("sign-in-form").hidden = true;
  $("signed-in").hidden = false;
  $("dashboard").hidden = false;
  const picker = $("course");
  picker.replaceChildren();
  for (const item of courses) {
    const option = el("option", `${item.display_name || item.course_id} · ${item.course_id} (${item.students})`);
    option.value = item.course_id;
    picker.append(option);
  }
  say(courses.length ? "" : "No course has fetched features yet.");
  if (courses.length) await pickCourse(courses[0].course_id);
}

async function pickCourse(courseId) {
  state.course = courseId;
  state.page = 1;
  $("course").value = courseId;
  closeStudent();
  await Promise.all([loadStats(), loadStudents(), loadComparison()]);
}

function stat(label, value) {
  const box = el("div", null, "stat");
  box.append(el("b", value), el("span", label));
  return box;
}

async function loadStats() {
  const stats = await api(`statistics/${course()}`);
  const levels = stats.level_counts;
  $("stats").replaceChildren(
    stat("students", stats.total_students),
    stat("average risk", fmt(stats.avg_risk_score)),
    stat("average grade", fmt(stats.avg_grade)),
    stat("high risk, not passed", stats.high_risk_count),
    stat("high / medium / low", `${levels.HIGH} / ${levels.MEDIUM} / ${levels.LOW}`),
    stat("not predicted yet", stats.total_students - stats.predicted_students),
  );
}

async function loadStudents() {
  const params = new URLSearchParams({ page: state.page, page_size: state.pageSize, sort: state.sort, order: state.order });
  if (state.q) params.set("q", state.q);
  if (state.level) params.set("level", state.level);
  const page = await api(`students/${course()}?${params}`);
  state.total = page.total;
  const rows = page.students.map((student) => {
    const row = el("tr", null, student.is_placeholder ? "placeholder" : "");
    row.dataset.userId = student.user_id;
    const who = el("td");
    who.append(el("div", student.full_name || student.username || `user ${student.user_id}`));
    who.append(el("small", student.username ? `@${student.username} · ${student.user_id}` : student.user_id));
    const risk = el("td", null, "num");
    risk.append(el("span", fmt(student.fail_risk_score, 0), `badge ${student.risk_level}`));
    row.append(who, risk,
      el("td", student.is_placeholder ? "no prediction yet" : student.risk_level, "level"),
      el("td", fmt(student.mooc_grade_percentage), "num"),
      el("td", pct(student.mooc_completion_rate), "num"),
      el("td", fmt(student.days_since_last_activity, 0), "num"),
      el("td", student.model_name ? `${student.model_name} v${student.model_version}` : "–"));
    row.addEventListener("click", () => openStudent(student.user_id));
    return row;
  });
  $("students").querySelector("tbody").replaceChildren(...rows);
  const first = page.total ? (page.page - 1) * page.page_size + 1 : 0;
  $("range").textContent = `${first}–${first + page.students.length - (page.total ? 1 : 0)} of ${page.total}`;
  $("prev").disabled = page.page <= 1;
  $("next").disabled = page.page * page.page_size >= page.total;
  for (const header of document.querySelectorAll("th[data-sort]")) {
    header.classList.toggle("sorted", header.dataset.sort === state.sort);
    header.dataset.dir = state.order === "desc" ? " ↓" : " ↑";
  }
}

async function loadComparison() {
  const comparison = await api(`models/compare/${course()}`);
  const votes = new Map(comparison.feedback.map((f) => [`${f.model_name}:${f.model_version}`, f]));
  const rows = comparison.models.map((model) => {
    const vote = votes.get(`${model.model_name}:${model.model_version}`) || { useful: 0, not_useful: 0 };
    const row = el("tr");
    row.append(el("td", `${model.model_name} v${model.model_version}`),
      el("td", model.purpose + (model.ab_arm ? ` (arm ${model.ab_arm})` : "")),
      el("td", model.students, "num"), el("td", fmt(model.mean_risk), "num"),
      el("td", model.high_risk, "num"), el("td", vote.useful, "num"), el("td", vote.not_useful, "num"));
    return row;
  });
  if (!rows.length) {
    const empty = el("tr");
    const cell = el("td", "No prediction run on this course yet.");
    cell.colSpan = 7;
    empty.append(cell);
    rows.push(empty);
  }
  $("models").querySelector("tbody").replaceChildren(...rows);
}

function closeStudent() {
  state.student = null;
  $("student-panel").hidden = true;
  for (const row of document.querySelectorAll("#students tr.open")) row.classList.remove("open");
}

async function openStudent(userId) {
  const [detail, history] = await Promise.all([
    api(`student/${userId}/${course()}`),
    api(`student/${userId}/${course()}/history`),
  ]);
  state.student = detail;
  for (const row of document.querySelectorAll("#students tbody tr")) {
    row.classList.toggle("open", row.dataset.userId === String(userId));
  }
  const p = detail.prediction;
  $("student-name").textContent = detail.full_name || detail.username || `user ${userId}`;
  $("student-meta").textContent = [detail.username && `@${detail.username}`, detail.email, `id ${userId}`].filter(Boolean).join(" · ");
  const risk = $("student-risk");
  risk.replaceChildren(el("span", fmt(p.fail_risk_score, 0), `badge ${p.risk_level}`),
    el("span", ` ${p.risk_level} · ${p.model_name} v${p.model_version} · ${when(p.predicted_at)}` +
      (detail.predicted_now ? " (predicted just now)" : "")));
  const reasons = (p.reasons || []).map((reason) => el("li",
    `${reason.feature} = ${fmt(reason.value, 2)}` + (reason.contribution !== null && reason.contribution !== undefined ? ` (raises risk by ${fmt(reason.contribution, 2)})` : "")));
  $("reasons").replaceChildren(...(reasons.length ? reasons : [el("li", "The model stored no reasons for this prediction.")]));
  showFeedback(detail);
  drawTimeline(history.points);
  $("student-panel").hidden = false;
}

function showFeedback(detail) {
  const flagged = detail.prediction.risk_level === "HIGH";
  $("feedback").hidden = !flagged;
  const last = detail.feedback[detail.feedback.length - 1];
  $("useful").classList.toggle("chosen", !!last && last.useful);
  $("not-useful").classList.toggle("chosen", !!last && !last.useful);
  $("feedback-state").textContent = last ? `saved: ${last.useful ? "useful" : "not useful"} (${last.given_by})` : "";
}

async function giveFeedback(useful) {
  const student = state.student;
  if (!student) return;
  const saved = await api(`feedback/${student.user_id}/${course()}`, { method: "POST", body: JSON.stringify({ useful }) });
  student.feedback.push({ useful: saved.useful, given_by: saved.given_by, given_at: "" });
  showFeedback(student);
  await loadComparison();
}

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text) { const title = document.createElementNS(SVG, "title"); title.textContent = text; node.append(title); }
  return node;
}

function drawTimeline(points) {
  const width = 460, height = 180, left = 34, right = 10, top = 10, bottom = 24;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Risk over time" });
  const y = (risk) => top + (100 - risk) / 100 * (height - top - bottom);
  const bands = [[70, 100, "#fbe3e3"], [40, 70, "#fff1d6"], [0, 40, "#e3f2e4"]];
  for (const [low, high, colour] of bands) {
    chart.append(svg("rect", { x: left, y: y(high), width: width - left - right, height: y(low) - y(high), fill: colour }));
  }
  for (const tick of [0, 40, 70, 100]) {
    const label = svg("text", { x: left - 4, y: y(tick) + 4, "text-anchor": "end", "font-size": 10 });
    label.textContent = String(tick);
    chart.append(label);
  }
  const times = points.map((point) => Date.parse(point.predicted_at + "Z"));
  const [first, last] = [Math.min(...times), Math.max(...times)];
  const x = (time) => last > first ? left + (time - first) / (last - first) * (width - left - right) : (left + width - right) / 2;
  const serving = points.filter((point) => point.purpose === "serving");
  if (serving.length > 1) {
    chart.append(svg("polyline", { fill: "none", stroke: "#1f3a5f", "stroke-width": 2,
      points: serving.map((point) => `${x(Date.parse(point.predicted_at + "Z"))},${y(point.fail_risk_score)}`).join(" ") }));
  }
  points.forEach((point, index) => {
    const label = `${when(point.predicted_at)} · risk ${fmt(point.fail_risk_score, 0)} ${point.risk_level} · ${point.model_name} v${point.model_version} (${point.purpose})`;
    const shadow = point.purpose !== "serving";
    chart.append(svg("circle", { cx: x(times[index]), cy: y(point.fail_risk_score), r: shadow ? 3.5 : 4.5,
      fill: shadow ? "#fff" : `var(--${point.risk_level.toLowerCase()})`, stroke: "#1f3a5f",
      "data-model": `${point.model_name}:${point.model_version}` }, label));
  });
  if (points.length) {
    for (const [time, anchor] of [[first, "start"], [last, "end"]]) {
      const label = svg("text", { x: x(time), y: height - 6, "text-anchor": anchor, "font-size": 10 });
      label.textContent = when(new Date(time).toISOString()).slice(0, 10);
      chart.append(label);
    }
  }
  $("timeline").replaceChildren(chart);
  $("timeline-points").querySelector("tbody").replaceChildren(...points.slice().reverse().map((point) => {
    const row = el("tr");
    row.append(el("td", when(point.predicted_at)), el("td", fmt(point.fail_risk_score, 0), "num"),
      el("td", `${point.model_name} v${point.model_version}${point.purpose === "serving" ? "" : " (shadow)"}`),
      el("td", point.snapshot_week ?? "–"));
    return row;
  }));
}

function debounce(action, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => action(...args), ms); };
}

const guard = (action) => async (...args) => {
  try { await action(...args); } catch (error) { if (error.message !== "401") say(error.message); }
};

$("sign-in-form").addEventListener("submit", guard(async (event) => {
  event.preventDefault();
  await signIn($("token").value.trim());
  $("token").value = "";
}));
$("sign-out").addEventListener("click", () => signOut("Signed out."));
$("course").addEventListener("change", guard((event) => pickCourse(event.target.value)));
$("search").addEventListener("input", debounce(guard(async (event) => { state.q = event.target.value.trim(); state.page = 1; await loadStudents(); }), 250));
$("level").addEventListener("change", guard(async (event) => { state.level = event.target.value; state.page = 1; await loadStudents(); }));
$("prev").addEventListener("click", guard(async () => { state.page -= 1; await loadStudents(); }));
$("next").addEventListener("click", guard(async () => { state.page += 1; await loadStudents(); }));
$("close-student").addEventListener("click", closeStudent);
$("useful").addEventListener("click", guard(() => giveFeedback(true)));
$("not-useful").addEventListener("click", guard(() => giveFeedback(false)));
$("predict").addEventListener("click", guard(async () => {
  say("Scoring the course…");
  const run = await api(`predict/${course()}`, { method: "POST" });
  say(run.mode === "dagster" ? `Dagster run ${run.run_id} queued.` : `Scored ${run.students} students with ${run.model}.`);
  await Promise.all([loadStats(), loadStudents(), loadComparison()]);
}));
for (const header of document.querySelectorAll("th[data-sort]")) {
  header.addEventListener("click", guard(async () => {
    const key = header.dataset.sort;
    state.order = state.sort === key && state.order === "desc" ? "asc" : "desc";
    state.sort = key;
    state.page = 1;
    await loadStudents();
  }));
}
if (state.token) guard(signIn)(state.token);
