// Live page: webcam -> JPEG frames over Socket.IO -> boxes and labels on a canvas overlay.
"use strict";

(function () {
  const MAX_CAPTURE_WIDTH = 640;
  const JPEG_QUALITY = 0.75;
  const COLOURS = ["#4fc3f7", "#ffb74d", "#81c784", "#f06292", "#ba68c8", "#fff176", "#4db6ac", "#e57373"];

  const video = document.getElementById("video");
  const overlay = document.getElementById("overlay");
  const startButton = document.getElementById("start");
  const stopButton = document.getElementById("stop");
  const connectionLabel = document.getElementById("connection");
  const fpsLabel = document.getElementById("fps");
  const latencyLabel = document.getElementById("latency");
  const message = document.getElementById("message");
  const faceList = document.getElementById("faces");
  const capture = document.createElement("canvas");

  const socket = io({ reconnectionDelayMax: 5000 });
  let stream = null;
  let inFlight = false;
  let lastResult = null;
  let resultTimes = [];

  function colourFor(id) {
    return COLOURS[(id - 1) % COLOURS.length];
  }

  function showMessage(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  function setConnection(state, text) {
    connectionLabel.dataset.state = state;
    connectionLabel.textContent = text;
  }

  socket.on("connect", () => { setConnection("connected", "connected"); pump(); });
  socket.on("disconnect", () => { setConnection("disconnected", "disconnected, retrying…"); inFlight = false; });
  socket.io.on("reconnect_attempt", () => setConnection("connecting", "reconnecting…"));

  async function startCamera() {
    if (!window.isSecureContext || !navigator.mediaDevices) {
      showMessage("The camera needs a secure page: open this site over HTTPS, or on http://localhost.");
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    } catch (error) {
      const reasons = {
        NotAllowedError: "Camera permission was denied. Allow the camera for this site in the browser's address bar, then press Start again.",
        NotFoundError: "No camera was found. Connect a camera and press Start again.",
        NotReadableError: "The camera is in use by another application.",
      };
      showMessage(reasons[error.name] || `The camera could not be started: ${error.message}`);
      return;
    }
    showMessage("");
    video.srcObject = stream;
    await video.play();
    startButton.disabled = true;
    stopButton.disabled = false;
    pump();
  }

  function stopCamera() {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    lastResult = null;
    draw();
    startButton.disabled = false;
    stopButton.disabled = true;
  }

  // Keeps exactly one frame in flight: the next frame is captured when the last result arrives.
  function pump() {
    if (inFlight || !stream || !socket.connected || video.readyState < 2) {
      if (stream && !inFlight) setTimeout(pump, 50);
      return;
    }
    const scale = Math.min(1, MAX_CAPTURE_WIDTH / video.videoWidth);
    capture.width = Math.round(video.videoWidth * scale);
    capture.height = Math.round(video.videoHeight * scale);
    capture.getContext("2d").drawImage(video, 0, 0, capture.width, capture.height);
    inFlight = true;
    capture.toBlob(async (blob) => {
      const sentAt = performance.now();
      const bytes = await blob.arrayBuffer();
      socket.timeout(5000).emit("frame", bytes, (timeoutError, result) => {
        inFlight = false;
        if (!timeoutError) onResult(result, performance.now() - sentAt);
        pump();
      });
    }, "image/jpeg", JPEG_QUALITY);
  }

  function onResult(result, roundTripMs) {
    if (result.error) {
      showMessage(`Server: ${result.error.message}`);
      return;
    }
    if (result.dropped) return;
    lastResult = result;
    const now = performance.now();
    resultTimes.push(now);
    resultTimes = resultTimes.filter((t) => now - t < 2000);
    fpsLabel.textContent = `${(resultTimes.length / 2).toFixed(1)} fps`;
    latencyLabel.textContent = `${Math.round(roundTripMs)} ms`;
    draw();
    listFaces(result.faces);
  }

  function listFaces(faces) {
    faceList.replaceChildren(...faces.map((face) => {
      const item = document.createElement("li");
      item.style.setProperty("--face-colour", colourFor(face.id));
      item.dataset.faceId = face.id;
      item.textContent = `Face ${face.id}: ${face.emotion} ${(face.confidence * 100).toFixed(0)}%`;
      return item;
    }));
  }

  // Draws the last result over the mirrored video, mapped through object-fit: contain.
  function draw() {
    const ratio = window.devicePixelRatio || 1;
    const width = overlay.clientWidth;
    const height = overlay.clientHeight;
    overlay.width = Math.round(width * ratio);
    overlay.height = Math.round(height * ratio);
    const context = overlay.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    if (!lastResult) return;
    const frame = lastResult.frame;
    const scale = Math.min(width / frame.width, height / frame.height);
    const offsetX = (width - frame.width * scale) / 2;
    const offsetY = (height - frame.height * scale) / 2;
    context.font = "600 16px system-ui, sans-serif";
    context.textBaseline = "bottom";
    for (const face of lastResult.faces) {
      const [x, y, w, h] = face.box;
      const left = offsetX + (frame.width - x - w) * scale; // mirrored like the preview
      const top = offsetY + y * scale;
      const colour = colourFor(face.id);
      context.lineWidth = 3;
      context.strokeStyle = colour;
      context.strokeRect(left, top, w * scale, h * scale);
      const label = `${face.emotion} ${(face.confidence * 100).toFixed(0)}%`;
      const labelWidth = context.measureText(label).width + 10;
      context.fillStyle = colour;
      context.fillRect(left - 1.5, top - 24, labelWidth, 24);
      context.fillStyle = "#00131d";
      context.fillText(label, left + 4, top - 4);
    }
  }

  window.addEventListener("resize", draw);
  startButton.addEventListener("click", startCamera);
  stopButton.addEventListener("click", stopCamera);
  // Start at once where the camera is already allowed (as on a return visit).
  if (navigator.permissions) {
    navigator.permissions.query({ name: "camera" }).then((status) => {
      if (status.state === "granted") startCamera();
    }).catch(() => {});
  }
})();
