// The page of darekana's HTTP API: send a picture, see numbered boxes and one line per face, then say
// whether each answer was right. No framework and nothing loaded from elsewhere.
"use strict";

const COLOURS = { confident: "rgb(46, 160, 67)", unsure: "rgb(219, 154, 4)", unknown: "rgb(207, 34, 46)" };
const MAX_SHOWN_HEIGHT = 640;  // CSS pixels: the answers stay in view below the picture
const $ = (id) => document.getElementById(id);
let characterNames = [];  // every known character, for the name suggestions
const USER = browserId();

// This browser's own id, sent with feedback: people sharing one address each keep their own answers.
function browserId() {
  const fresh = [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, "0")).join("");
  try {
    if (!localStorage.getItem("darekana-user")) localStorage.setItem("darekana-user", fresh);
    return localStorage.getItem("darekana-user");
  } catch {
    return fresh;  // storage is off: this visit has its own id
  }
}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new Error("could not reach darekana: is it still running?");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(body?.error || `the server answered ${response.status}`);
  return body;
}

function postJson(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

function showError(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
}

// --- sending a picture -------------------------------------------------------------------------------

let latest = 0;  // only the last picture sent is shown, whichever answer arrives first

async function recognise(request, source) {
  const mine = ++latest;
  showError("");
  $("status").textContent = "Looking…";
  try {
    const reply = await api("api/v1/whois", request);
    const picture = await loadPicture(source);
    if (mine === latest) show(reply, picture);
  } catch (error) {
    if (mine !== latest) return;
    $("result").hidden = true;
    showError(error.message);
  } finally {
    if (mine === latest) $("status").textContent = "";
  }
}

function sendFile(file) {
  if (!file) return;
  const form = new FormData();
  form.append("image", file, file.name || "pasted.png");
  recognise({ method: "POST", body: form }, file);
}

function sendLink(url) {
  const request = { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ url }) };
  recognise(request, url);
}

// The picture as the browser sees it, or null when it cannot show it (the boxes are drawn anyway).
function loadPicture(source) {
  const url = source instanceof Blob ? URL.createObjectURL(source) : source;
  return new Promise((resolve) => {
    const image = new Image();
    const done = (result) => {
      if (source instanceof Blob) URL.revokeObjectURL(url);
      resolve(result);
    };
    image.onload = () => done(image);
    image.onerror = () => done(null);
    image.src = url;
  });
}

// --- showing the answer ------------------------------------------------------------------------------

function show(reply, picture) {
  $("result").hidden = false;  // first: drawing needs the width it is shown in
  drawBoxes(reply, picture);
  $("summary").textContent = reply.faces_detected === 0 ? reply.text.split("\n")[0] : "";
  $("faces").replaceChildren(...reply.faces.map((face) => faceItem(face, picture)));
  shown = reply;
  $("forget").hidden = false;
  $("forgotten").textContent = "";
}

// --- taking it back ------------------------------------------------------------------------------------

let shown = null;  // the answer on the page: its delete_token deletes what was stored of it

async function forgetShown() {
  if (!shown) return;
  showError("");
  const request = { method: "DELETE", headers: { Authorization: `Bearer ${shown.delete_token}` } };
  try {
    const { deleted } = await api(`api/v1/recognitions/${shown.recognition_id}`, request);
    $("forgotten").textContent = `Deleted: ${deleted.faces} face(s) and ${deleted.corrections} correction(s).`;
    $("forget").hidden = true;
    shown = null;
  } catch (error) {
    showError(error.message);
  }
}

$("forget").addEventListener("click", forgetShown);

// What is kept, in the server's own words and days; the page works without it.
api("api/v1/privacy").then((body) => {
  const lines = body.text.split("\n").map((line) => line.replace(/\*\*/g, "").replace(/`/g, ""));
  $("privacy-text").replaceChildren(...lines.map((line) => element("p", { textContent: line })));
}).catch(() => {});

// Boxes and captions coloured as recognizer/annotate.py draws them, sized for the screen: the picture fits
// the page (small ones enlarged up to 3 times) and is drawn at the screen's own resolution.
function drawBoxes(reply, picture) {
  const canvas = $("picture");
  const scale = Math.min(canvas.parentElement.clientWidth / reply.width, MAX_SHOWN_HEIGHT / reply.height, 3);
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(reply.width * scale * ratio);
  canvas.height = Math.round(reply.height * scale * ratio);
  canvas.style.width = `${reply.width * scale}px`;
  const context = canvas.getContext("2d");
  context.scale(scale * ratio, scale * ratio);  // from here on, in the picture's own pixels
  if (picture) context.drawImage(picture, 0, 0, reply.width, reply.height);
  const line = 2.5 / scale;
  const size = 15 / scale;
  context.font = `bold ${size}px system-ui, sans-serif`;
  context.textBaseline = "top";
  context.lineWidth = line;
  for (const face of reply.faces) {
    const [x, y, w, h] = face.box;
    const text = caption(face);
    const width = context.measureText(text).width + 2 * line;
    const height = size + 2 * line;
    const left = Math.max(0, Math.min(x, reply.width - width));  // the caption stays inside the picture
    const top = y - height >= 0 ? y - height : y + h;
    context.strokeStyle = context.fillStyle = COLOURS[face.verdict];
    context.strokeRect(x, y, w, h);
    context.fillRect(left, top, width, height);
    context.fillStyle = "white";
    context.fillText(text, left + line, top + line);
  }
  canvas.setAttribute("aria-label", `The picture with ${reply.faces.length} numbered face box(es)`);
}

function caption(face) {
  const percent = `${Math.round(face.confidence * 100)}%`;
  return { confident: `${face.number}. ${face.name} ${percent}`, unsure: `${face.number}. ${face.name}? ${percent}`,
           unknown: `${face.number}. ?` }[face.verdict];
}

function faceItem(face, picture) {
  const item = element("li", { className: `face ${face.verdict}` });
  const answer = element("p", { className: "answer" });
  answer.append(element("span", { className: "number", textContent: face.number }), face.text);
  const ack = element("p", { className: "ack", role: "status" });
  const actions = element("div", { className: "actions" });
  const saved = (text) => { ack.textContent = text; actions.hidden = true; form.hidden = true; };
  const form = correctionForm(face, saved);
  // An unknown face has no answer to call right: confirming would store the model's unused first guess.
  if (face.verdict !== "unknown") {
    actions.append(button("Right", `Right: face ${face.number} is ${face.name}`,
      () => feedback(`api/v1/faces/${face.id}/confirmations`, { user: USER }, saved)));
  }
  actions.append(button(face.verdict === "unknown" ? "I know who" : "Wrong", `Wrong: tell who face ${face.number} is`,
    () => { form.hidden = false; form.querySelector("input").focus(); }));
  item.append(answer, ...(face.evidence ? [evidence(face, picture)] : []), actions, form, ack);
  return item;
}

// The face asked about beside the nearest face of the character named, for people to check the answer.
function evidence(face, picture) {
  const figure = element("figure", { className: "evidence" });
  if (picture) figure.append(faceCrop(face, picture));
  const shown = element("img", { src: face.evidence.image, alt: `A face of ${face.name} that darekana knows` });
  const from = face.evidence.source === "enrolled" ? "enrolled later" : "from its training";
  figure.append(shown, element("figcaption", { textContent: `Nearest face of ${face.name} it knows (${from})` }));
  return figure;
}

function faceCrop(face, picture) {
  const [x, y, w, h] = face.box;
  const side = 96;
  const scale = side / Math.max(w, h);
  const canvas = element("canvas", { width: Math.round(w * scale), height: Math.round(h * scale) });
  canvas.getContext("2d").drawImage(picture, x, y, w, h, 0, 0, canvas.width, canvas.height);
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `Face ${face.number} of the picture`);
  return canvas;
}

function correctionForm(face, saved) {
  const id = `name-${face.id}`;
  const form = element("form", { className: "correct row", hidden: true });
  const names = element("datalist", { id: `${id}-names` });
  const suggestions = new Set([...face.candidates.map((c) => c.name), ...characterNames]);
  names.append(...[...suggestions].map((name) => element("option", { value: name })));
  const input = element("input", { type: "text", id, autocomplete: "off", required: true });
  input.setAttribute("list", names.id);
  form.append(element("label", { htmlFor: id, textContent: `Who is face ${face.number}?` }), input, names,
    element("button", { type: "submit", textContent: "Save" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    feedback(`api/v1/faces/${face.id}/corrections`, { label: input.value, user: USER }, saved);
  });
  return form;
}

async function feedback(path, body, saved) {
  showError("");
  try {
    saved((await postJson(path, body)).text);
  } catch (error) {
    showError(error.message);
  }
}

function element(tag, properties) {
  return Object.assign(document.createElement(tag), properties);
}

function button(text, label, onClick) {
  const b = element("button", { type: "button", textContent: text, onclick: onClick });
  b.setAttribute("aria-label", label);
  return b;
}

// --- ways in: file, drop, paste, link --------------------------------------------------------------

$("file").addEventListener("change", (event) => {
  sendFile(event.target.files[0]);
  event.target.value = "";  // choosing the same file again sends it again
});

$("link").addEventListener("submit", (event) => {
  event.preventDefault();
  sendLink($("url").value.trim());
});

// The whole page takes drops, so a near miss does not make the browser open the picture instead.
document.addEventListener("dragover", (event) => {
  event.preventDefault();
  $("drop").classList.add("over");
});
document.addEventListener("dragleave", (event) => {
  if (!event.relatedTarget) $("drop").classList.remove("over");
});
document.addEventListener("drop", (event) => {
  event.preventDefault();
  $("drop").classList.remove("over");
  const file = event.dataTransfer.files[0];
  const link = event.dataTransfer.getData("text/uri-list").split("\n").find((l) => l && !l.startsWith("#"));
  if (file) sendFile(file);
  else if (link) sendLink(link.trim());
});

document.addEventListener("paste", (event) => {
  const file = [...event.clipboardData.files].find((f) => f.type.startsWith("image/"));
  if (!file) return;  // pasted text goes where it was pasted, e.g. the link field
  event.preventDefault();
  sendFile(file);
});

// Suggestions are a nicety: the page works without them.
api("api/v1/characters").then((rows) => { characterNames = rows.map((c) => c.name); }).catch(() => {});
