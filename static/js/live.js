// Live page: webcam -> JPEG frames over Socket.IO -> boxes, labels and charts.
// Flow control: one frame in flight at a time, at most MAX_FPS, and the frame
// size and JPEG quality adapt to the measured round trip so latency stays low.
"use strict";

(function () {
  const { EMOTIONS, EMOTION_COLOURS, UNCERTAIN_COLOUR, RESULT_COLUMNS, faceLabel, faceColour, placeTags } = window.EMOTION_UI;
  const { $, showMessage } = window.COMMON;
  const { REPORT, REVIEW } = window;
  const MAX_FPS = 25;
  const WIDTHS = [320, 480, 640];
  const QUALITIES = [0.5, 0.65, 0.8];
  const SLOW_MS = 150;
  const FAST_MS = 60;
  const TIMELINE_SECONDS = 30; // the shortest span the timeline shows
  const SESSION_BUTTONS = ["download-session-csv", "download-session-json", "download-session-report",
    "download-session-room", "clear-session"];

  const video = $("video");
  const overlay = $("overlay");
  const timeline = $("timeline");
  const capture = document.createElement("canvas");

  const state = {
    stream: null,
    generation: 0, // counts camera starts and stops: an answer from an older one is not drawn
    inFlight: false,
    lastSentAt: 0,
    lastResult: null,
    resultTimes: [],
    smoothedRtt: null,
    level: WIDTHS.length - 1, // index into WIDTHS/QUALITIES: starts at the best
    history: [], // [time, emotion] of the largest face, the whole session
    // The session's results, in this page only: rows as a video's results.json has them.
    session: newSession(),
    review: { frames: -1, people: [], roomChart: null }, // the per-person views, as last drawn
  };

  // attention: person id -> [attending, posed]; duration: the last answer's time (s).
  function newSession() {
    return { started: null, frames: 0, duration: 0, frameSize: null, rows: [], attention: new Map() };
  }

  const socket = io({ reconnectionDelayMax: 5000 });

  // ---- status and messages ----
  function setConnection(stateName, text) {
    $("connection").dataset.state = stateName;
    $("connection").textContent = text;
  }

  socket.on("connect", () => {
    setConnection("connected", "connected");
    if ($("message").dataset.kind === "server") showMessage("");
    pump();
  });
  socket.on("disconnect", () => {
    setConnection("disconnected", "disconnected, reconnecting…");
    state.inFlight = false;
  });
  socket.on("connect_error", () => {
    setConnection("disconnected", "server unreachable, retrying…");
    $("message").dataset.kind = "server";
    showMessage("The server cannot be reached. Retrying automatically…");
  });

  // ---- camera ----
  async function listCameras() {
    const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
    const select = $("camera");
    const current = state.stream && state.stream.getVideoTracks()[0].getSettings().deviceId;
    select.replaceChildren(...devices.map((device, index) => {
      const option = new Option(device.label || `Camera ${index + 1}`, device.deviceId);
      option.selected = device.deviceId === current;
      return option;
    }));
    $("camera-picker").hidden = devices.length < 2;
  }

  async function startCamera(deviceId) {
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showMessage("The camera needs a secure page. Open this site over HTTPS (or on http://localhost): " +
        "browsers only allow getUserMedia on secure origins.");
      return;
    }
    stopCamera();
    const video_constraints = { width: { ideal: 640 }, height: { ideal: 480 } };
    if (deviceId) video_constraints.deviceId = { exact: deviceId };
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({ video: video_constraints, audio: false });
    } catch (error) {
      const reasons = {
        NotAllowedError: "Camera permission was denied. Allow the camera for this site (the camera icon in the address bar), then press Start camera again.",
        SecurityError: "Camera permission was denied by the browser's settings for this site.",
        NotFoundError: "No camera was found. Connect a camera and press Start camera again.",
        OverconstrainedError: "The chosen camera is not available. Pick another camera.",
        NotReadableError: "The camera is in use by another application. Close it and press Start camera again.",
      };
      $("message").dataset.kind = "camera";
      showMessage(reasons[error.name] || `The camera could not be started: ${error.message}`);
      return;
    }
    showMessage("");
    state.generation += 1;
    $("stage-hint").hidden = true;
    $("no-faces").textContent = "No face in view.";
    video.srcObject = state.stream;
    await video.play();
    $("start").disabled = true;
    $("stop").disabled = false;
    $("snapshot").disabled = false;
    listCameras();
    pump();
  }

  // Stops the camera and clears what it showed: boxes, the face panel and the live figures.
  function stopCamera() {
    if (state.stream) state.stream.getTracks().forEach((track) => track.stop());
    state.stream = null;
    state.generation += 1;
    video.srcObject = null;
    state.lastResult = null;
    state.resultTimes = [];
    drawOverlay();
    listFaces([]);
    markInView();
    drawReview();
    $("no-faces").textContent = "Faces appear here once the camera is on.";
    $("stage-hint").hidden = false;
    $("fps").textContent = "– fps";
    $("latency").textContent = "– ms";
    $("quality").textContent = "";
    $("start").disabled = false;
    $("stop").disabled = true;
    $("snapshot").disabled = true;
  }

  // ---- sending frames ----
  function pump() {
    if (state.inFlight || !state.stream || !socket.connected) return;
    if (video.readyState < 2) { setTimeout(pump, 50); return; }
    const wait = state.lastSentAt + 1000 / MAX_FPS - performance.now();
    if (wait > 0) { setTimeout(pump, wait); return; }
    const scale = Math.min(1, WIDTHS[state.level] / video.videoWidth);
    capture.width = Math.round(video.videoWidth * scale);
    capture.height = Math.round(video.videoHeight * scale);
    capture.getContext("2d").drawImage(video, 0, 0, capture.width, capture.height);
    state.inFlight = true;
    state.lastSentAt = performance.now();
    $("quality").textContent = `${capture.width}×${capture.height} q${Math.round(QUALITIES[state.level] * 100)}`;
    const generation = state.generation;
    capture.toBlob((blob) => sendFrame(blob, generation).catch(skipFrame), "image/jpeg", QUALITIES[state.level]);
  }

  // `generation`: the camera run the frame was captured in; nothing of an older run is sent or drawn.
  async function sendFrame(blob, generation) {
    if (!blob) throw new Error("the frame could not be encoded");
    const bytes = await blob.arrayBuffer();
    if (generation !== state.generation) { state.inFlight = false; pump(); return; }
    const sentAt = performance.now();
    socket.timeout(5000).emit("frame", bytes, (timeoutError, answer) => {
      state.inFlight = false;
      if (generation !== state.generation) { pump(); return; } // sent before a stop or restart
      if (timeoutError) adapt(SLOW_MS * 2);
      else onAnswer(answer, performance.now() - sentAt);
      pump();
    });
  }

  // A frame that could not be encoded (toBlob gave no blob) is skipped; the stream goes on.
  function skipFrame(error) {
    console.warn(`Frame skipped: ${error.message}`);
    state.inFlight = false;
    setTimeout(pump, 1000 / MAX_FPS);
  }

  // Steps frame size/quality down when round trips are slow, up when they are fast.
  function adapt(rttMs) {
    state.smoothedRtt = state.smoothedRtt === null ? rttMs : 0.8 * state.smoothedRtt + 0.2 * rttMs;
    if (state.smoothedRtt > SLOW_MS && state.level > 0) {
      state.level -= 1;
      state.smoothedRtt = null;
    } else if (state.smoothedRtt < FAST_MS && state.level < WIDTHS.length - 1) {
      state.level += 1;
      state.smoothedRtt = null;
    }
  }

  function onAnswer(answer, rttMs) {
    adapt(rttMs);
    if (answer.error) {
      if (answer.error.code !== "rate_limited") showMessage(`Server: ${answer.error.message}`);
      return;
    }
    if (answer.dropped) return;
    state.lastResult = answer;
    const now = performance.now();
    state.resultTimes.push(now);
    state.resultTimes = state.resultTimes.filter((t) => now - t < 2000);
    $("fps").textContent = `${(state.resultTimes.length / 2).toFixed(1)} fps`;
    $("latency").textContent = `${Math.round(rttMs)} ms`;
    const largest = answer.faces.reduce((a, f) => (!a || f.box[2] > a.box[2] ? f : a), null);
    state.history.push([Date.now(), largest ? largest.emotion : null]);
    record(answer);
    drawOverlay();
    listFaces(answer.faces);
    drawTimeline();
    markInView();
  }

  // ---- the session, kept in this page ----
  function record(answer) {
    const session = state.session;
    if (session.started === null) session.started = Date.now();
    const time = Math.round(Date.now() - session.started) / 1000;
    for (const face of answer.faces) {
      const [x, y, w, h] = face.box;
      const reasons = [...((face.quality && face.quality.reasons) || [])];
      if (face.uncertain && !reasons.includes(face.uncertain)) reasons.push(face.uncertain);
      const pose = face.pose || {};
      const person = face.person_id ?? face.id;
      const seen = session.attention.get(person) || [0, 0];
      if (face.attending === true || face.attending === false) session.attention.set(person, [seen[0] + face.attending, seen[1] + 1]);
      const values = [session.frames, time, face.id, face.person_id ?? face.id, x, y, w, h, face.emotion, face.confidence,
        ...EMOTIONS.map((e) => face.scores[e]), face.quality ? face.quality.score : null,
        reasons.join("; "), face.attending === null || face.attending === undefined ? null : Number(face.attending),
        pose.yaw ?? null, pose.pitch ?? null, pose.roll ?? null];
      session.rows.push(Object.fromEntries(RESULT_COLUMNS.map((name, i) => [name, values[i]])));
    }
    session.frames += 1;
    session.duration = time;
    session.frameSize = answer.frame;
    for (const id of SESSION_BUTTONS) $(id).disabled = false;
  }

  // The session's "video" facts, as a video's results have them: its fps is its
  // answered frames over its duration.
  function sessionFacts() {
    const { started, frames, duration, frameSize, rows } = state.session;
    return { source: "live", started: new Date(started).toISOString(), frames, duration,
      fps: duration > 0 ? frames / duration : 0, video_start: 0,
      width: frameSize ? frameSize.width : null, height: frameSize ? frameSize.height : null,
      persons: new Set(rows.map((r) => r.person_id)).size, tracks: new Set(rows.map((r) => r.face_id)).size };
  }

  // The session as a video's results JSON, with its summary (per person, and the room).
  function sessionResults() {
    const video = sessionFacts();
    const rows = state.session.rows;
    return { labels: EMOTIONS, rows, video, summary: REPORT.summarize(rows, video.frames, video.fps, 0) };
  }

  function download(name, type, text) {
    const link = document.createElement("a");
    link.download = name;
    link.href = URL.createObjectURL(new Blob([text], { type }));
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }

  // live-session-<start>.csv, or live-session-<start>-report.html with a suffix.
  function sessionName(extension, suffix = "") {
    return `live-session-${new Date(state.session.started).toISOString().replace(/[:.]/g, "-")}${suffix}.${extension}`;
  }

  function downloadSessionCSV() {
    const cell = (value) => (value === null || value === undefined ? "" : /[",\n]/.test(String(value)) ? `"${String(value).replace(/"/g, '""')}"` : String(value));
    const lines = [RESULT_COLUMNS.join(","), ...state.session.rows.map((row) => RESULT_COLUMNS.map((name) => cell(row[name])).join(","))];
    download(sessionName("csv"), "text/csv", `${lines.join("\r\n")}\r\n`);
  }

  function downloadSessionJSON() {
    download(sessionName("json"), "application/json", JSON.stringify(sessionResults()));
  }

  async function downloadSessionReport() {
    const { summary, ...results } = sessionResults();
    const name = `a live session (${new Date(state.session.started).toLocaleString()})`;
    download(sessionName("html", "-report"), "text/html", await REPORT.build({ name, results, summary }));
  }

  function downloadSessionRoom() {
    drawReview();
    if (!state.review.roomChart) return;
    const link = document.createElement("a");
    link.download = sessionName("png", "-room");
    link.href = REVIEW.chartPng(state.review.roomChart);
    link.click();
  }

  function clearSession() {
    state.session = newSession();
    state.history = [];
    drawTimeline();
    drawReview();
    for (const id of SESSION_BUTTONS) $(id).disabled = true;
  }

  // ---- the session per person: timelines, table and the room chart ----
  function drawReview() {
    const review = state.review;
    if (review.frames === state.session.frames) return; // nothing new since the last drawing
    review.frames = state.session.frames;
    if (review.roomChart) review.roomChart.destroy();
    review.roomChart = null;
    $("session-review").hidden = !state.session.rows.length;
    if (!state.session.rows.length) { review.people = []; return; }
    const { rows, video, summary } = sessionResults();
    const axis = { start: 0, end: REPORT.axisEnd(summary), fps: video.fps };
    review.people = REVIEW.peopleOf(summary, rows);
    REVIEW.drawTimelines($("session-people"), review.people, axis);
    REVIEW.drawTable($("session-summary"), review.people, summary.labels);
    review.roomChart = REVIEW.roomChart($("session-room"), summary.room, axis);
    markInView();
  }

  // The people the last answer saw are marked in view.
  function markInView() {
    const faces = state.lastResult ? state.lastResult.faces : [];
    const ids = new Set(faces.map((face) => face.person_id ?? face.id));
    REVIEW.markInView(state.review.people, (person) => ids.has(person.summary.person_id));
  }

  // ---- drawing ----
  function listFaces(faces) {
    $("no-faces").hidden = faces.length > 0;
    $("faces").replaceChildren(...faces.map((face) => {
      const item = document.createElement("li");
      item.style.setProperty("--face-colour", faceColour(face));
      item.dataset.faceId = face.id;
      const title = document.createElement("div");
      title.className = "face-title";
      title.textContent = `Person ${face.person_id ?? face.id}: ${faceLabel(face)}` +
        (face.attending === false ? " · looking away" : "");
      const [attending, posed] = state.session.attention.get(face.person_id ?? face.id) || [0, 0];
      if (posed) title.title = `attending ${Math.round((100 * attending) / posed)}% of this session's frames`;
      const note = document.createElement("div");
      note.className = "muted face-note";
      note.textContent = posed ? `attending ${Math.round((100 * attending) / posed)}% of the session` : "";
      const bars = document.createElement("div");
      bars.className = "bars";
      for (const emotion of EMOTIONS) {
        const p = face.scores[emotion];
        const name = document.createElement("span");
        name.textContent = emotion;
        const bar = document.createElement("div");
        bar.className = "bar";
        bar.dataset.emotion = emotion;
        const fill = document.createElement("span");
        fill.style.width = `${(p * 100).toFixed(1)}%`;
        fill.style.setProperty("--bar-colour", EMOTION_COLOURS[emotion]);
        bar.append(fill);
        const value = document.createElement("span");
        value.textContent = `${(p * 100).toFixed(0)}%`;
        bars.append(name, bar, value);
      }
      item.append(title, note, bars);
      return item;
    }));
  }

  // The video is mirrored and letterboxed (object-fit: contain): map frame pixels the same way.
  function frameToStage(frame, width, height) {
    const scale = Math.min(width / frame.width, height / frame.height);
    return {
      scale,
      x: (x, w) => (width - frame.width * scale) / 2 + (frame.width - x - w) * scale,
      y: (y) => (height - frame.height * scale) / 2 + y * scale,
    };
  }

  function drawFaces(context, result, width, height) {
    const map = frameToStage(result.frame, width, height);
    context.font = "600 16px system-ui, sans-serif";
    context.textBaseline = "bottom";
    const boxes = result.faces.map(({ box: [x, y, w, h] }) => [map.x(x, w), map.y(y), w * map.scale, h * map.scale]);
    const labels = result.faces.map(faceLabel);
    const sizes = labels.map((label) => [context.measureText(label).width + 10, 24]);
    const tags = placeTags(boxes, sizes, [width, height]);
    result.faces.forEach((face, i) => {
      context.lineWidth = 3;
      context.strokeStyle = faceColour(face);
      context.strokeRect(...boxes[i]);
    });
    result.faces.forEach((face, i) => {
      const [left, top] = tags[i];
      context.fillStyle = faceColour(face);
      context.fillRect(left, top, ...sizes[i]);
      context.fillStyle = "#00131d";
      context.fillText(labels[i], left + 5, top + 20);
    });
  }

  function sizeCanvas(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { context, width, height };
  }

  function drawOverlay() {
    const { context, width, height } = sizeCanvas(overlay);
    context.clearRect(0, 0, width, height);
    if (state.lastResult) drawFaces(context, state.lastResult, width, height);
  }

  // The largest face's emotion over the whole session (at least 30 s wide).
  function drawTimeline() {
    const { context, width, height } = sizeCanvas(timeline);
    context.clearRect(0, 0, width, height);
    if (!state.history.length) { $("session-length").textContent = ""; return; }
    const start = state.history[0][0];
    const now = state.stream ? Date.now() : state.history[state.history.length - 1][0];
    const span = Math.max(TIMELINE_SECONDS * 1000, now - start);
    $("session-length").textContent = `${Math.round((now - start) / 1000)} s`;
    state.history.forEach(([t, emotion], i) => {
      if (!emotion) return;
      const next = i + 1 < state.history.length ? state.history[i + 1][0] : now;
      const x0 = ((t - start) / span) * width;
      const x1 = ((next - start) / span) * width;
      context.fillStyle = EMOTION_COLOURS[emotion] || UNCERTAIN_COLOUR;
      context.fillRect(Math.floor(x0), 0, Math.max(1, Math.ceil(x1 - x0) + 1), height);
    });
  }

  function drawLegend() {
    $("legend").replaceChildren(...EMOTIONS.map((emotion) => {
      const item = document.createElement("li");
      const swatch = document.createElement("i");
      swatch.style.background = EMOTION_COLOURS[emotion];
      item.append(swatch, emotion);
      return item;
    }));
  }

  // Saves what the user sees: the mirrored frame with the overlay, as PNG.
  function snapshot() {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    const context = canvas.getContext("2d");
    context.translate(canvas.width, 0);
    context.scale(-1, 1);
    context.drawImage(video, 0, 0);
    context.setTransform(1, 0, 0, 1, 0, 0);
    if (state.lastResult) drawFaces(context, state.lastResult, canvas.width, canvas.height);
    const link = document.createElement("a");
    link.download = `emotions-${new Date().toISOString().replace(/[:.]/g, "-")}.png`;
    link.href = canvas.toDataURL("image/png");
    link.click();
  }

  window.addEventListener("resize", () => { drawOverlay(); drawTimeline(); });
  $("start").addEventListener("click", () => startCamera($("camera").value || undefined));
  $("stop").addEventListener("click", stopCamera);
  $("snapshot").addEventListener("click", snapshot);
  $("download-session-csv").addEventListener("click", downloadSessionCSV);
  $("download-session-json").addEventListener("click", downloadSessionJSON);
  $("download-session-report").addEventListener("click", downloadSessionReport);
  $("download-session-room").addEventListener("click", downloadSessionRoom);
  $("clear-session").addEventListener("click", clearSession);
  $("camera").addEventListener("change", (event) => startCamera(event.target.value));
  drawLegend();
  setInterval(() => { drawTimeline(); drawReview(); }, 1000);
  // Start at once where the camera is already allowed (as on a return visit).
  if (navigator.permissions) {
    navigator.permissions.query({ name: "camera" }).then((status) => {
      if (status.state === "granted") startCamera();
    }).catch(() => {});
  }
})();
