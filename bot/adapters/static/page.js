// The page of darekana's HTTP API: send a picture, see numbered boxes and one line per face, then say
// whether each answer was right. No framework and nothing loaded from elsewhere.
"use strict";

const COLOURS = { confident: "rgb(46, 160, 67)", unsure: "rgb(219, 154, 4)", unknown: "rgb(207, 34, 46)" };
const $ = (id) => document.getElementById(id);
let characterNames = [];  // every known character, for the name suggestions

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

async function recognise(request, source) {
  showError("");
  $("status").textContent = "Looking…";
  $("result").setAttribute("aria-busy", "true");
  try {
    const reply = await api("api/v1/whois", request);
    await show(reply, await loadPicture(source));
  } catch (error) {
    $("result").hidden = true;
    showError(error.message);
  } finally {
    $("status").textContent = "";
    $("result").removeAttribute("aria-busy");
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
    image.onload = () => resolve(image);
    image.onerror = () => resolve(null);
    image.src = url;
  });
}

// --- showing the answer ------------------------------------------------------------------------------

function show(reply, picture) {
  drawBoxes(reply, picture);
  $("summary").textContent = reply.faces_detected === 0 ? reply.text.split("\n")[0] : "";
  $("faces").replaceChildren(...reply.faces.map(faceItem));
  $("result").hidden = false;
}

function drawBoxes(reply, picture) {
  const canvas = $("picture");
  const context = canvas.getContext("2d");
  canvas.width = reply.width;
  canvas.height = reply.height;
  if (picture) context.drawImage(picture, 0, 0, reply.width, reply.height);
  const side = Math.max(reply.width, reply.height);
  const line = Math.max(2, Math.round(side / 300));  // as recognizer/annotate.py sizes them
  context.font = `bold ${Math.max(12, Math.round(side / 40))}px system-ui, sans-serif`;
  context.textBaseline = "top";
  for (const face of reply.faces) {
    const [x, y, w, h] = face.box;
    context.strokeStyle = context.fillStyle = COLOURS[face.verdict];
    context.lineWidth = line;
    context.strokeRect(x, y, w, h);
    const text = face.verdict === "unknown" ? `${face.number}. ?` : `${face.number}. ${face.name}`;
    const height = parseInt(context.font.match(/(\d+)px/)[1], 10) + 2 * line;
    const top = y - height >= 0 ? y - height : y + h;
    context.fillRect(x, top, context.measureText(text).width + 2 * line, height);
    context.fillStyle = "white";
    context.fillText(text, x + line, top + line);
  }
  canvas.setAttribute("aria-label", `The picture with ${reply.faces.length} numbered face box(es)`);
}

function faceItem(face) {
  const item = element("li", { className: `face ${face.verdict}` });
  const answer = element("p", { className: "answer" });
  answer.append(element("span", { className: "number", textContent: face.number }), face.text);
  const ack = element("p", { className: "ack", role: "status" });
  const form = correctionForm(face, ack);
  const wrong = button(face.verdict === "unknown" ? "I know who" : "Wrong", `face ${face.number}: tell who it is`,
    () => { form.hidden = false; form.querySelector("input").focus(); });
  const actions = element("div", { className: "actions" });
  // An unknown face has no answer to call right: confirming would store the model's unused first guess.
  if (face.verdict !== "unknown") {
    actions.append(button("Right", `face ${face.number} is ${face.name}: right`, async () => {
      const done = await feedback(`api/v1/faces/${face.id}/confirmations`, {}, ack);
      if (done) { actions.hidden = true; form.hidden = true; }
    }));
  }
  actions.append(wrong);
  item.append(answer, actions, form, ack);
  return item;
}

function correctionForm(face, ack) {
  const id = `name-${face.id}`;
  const form = element("form", { className: "correct row", hidden: true });
  const names = element("datalist", { id: `${id}-names` });
  const suggestions = [...new Set([...face.candidates.map((c) => c.name), ...characterNames])];
  names.append(...suggestions.map((name) => element("option", { value: name })));
  const input = element("input", { type: "text", id, autocomplete: "off", required: true, maxLength: 100 });
  input.setAttribute("list", names.id);
  form.append(element("label", { htmlFor: id, textContent: `Who is face ${face.number}?` }), input, names,
    element("button", { type: "submit", textContent: "Save" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = await feedback(`api/v1/faces/${face.id}/corrections`, { label: input.value }, ack);
    if (done) { form.hidden = true; form.previousElementSibling.hidden = true; }
  });
  return form;
}

async function feedback(path, body, ack) {
  showError("");
  try {
    ack.textContent = (await postJson(path, body)).text;
    return true;
  } catch (error) {
    showError(error.message);
    return false;
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
