// Upload page: a video becomes a background job (progress over Socket.IO, polling
// as the fallback); a photo is analysed at once and annotated in the page.
"use strict";

(function () {
  const { EMOTIONS, EMOTION_COLOURS, UNCERTAIN_COLOUR, faceLabel, faceColour } = window.EMOTION_UI;
  const { $, showMessage, errorMessage, fetchJSON } = window.COMMON;
  const RECENT_KEY = "emotion-recent-jobs";
  const socket = io();
  let current = null; // {id, name, startedAt}
  let chart = null;
  let roomChart = null;
  let pollTimer = null;

  // ---- recent jobs, remembered in this browser only ----
  function recentJobs() {
    try { return JSON.parse(localStorage.getItem(RECENT_KEY)) || []; } catch { return []; }
  }

  // The owner token from the upload's answer: needed to cancel or delete the job.
  function ownerHeaders(id) {
    const job = recentJobs().find((j) => j.id === id);
    return job && job.token ? { "X-Job-Token": job.token } : {};
  }

  function saveRecent(jobs) {
    localStorage.setItem(RECENT_KEY, JSON.stringify(jobs.slice(0, 20)));
    renderRecent();
  }

  function renderRecent() {
    $("recent").replaceChildren(...recentJobs().map((job) => {
      const item = document.createElement("li");
      const open = document.createElement("a");
      open.href = "#";
      open.textContent = job.name;
      open.addEventListener("click", (event) => { event.preventDefault(); follow(job.id, job.name); });
      const when = document.createElement("span");
      when.className = "muted";
      when.textContent = new Date(job.created).toLocaleString();
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Delete";
      remove.addEventListener("click", async () => {
        await fetch(`/api/videos/${job.id}`, { method: "DELETE", headers: ownerHeaders(job.id) });
        saveRecent(recentJobs().filter((j) => j.id !== job.id));
        if (current && current.id === job.id) $("job").hidden = true;
      });
      item.append(open, when, remove);
      return item;
    }));
  }

  // ---- choosing a file ----
  function handleFile(file) {
    if (!file) return;
    showMessage("");
    if (file.type.startsWith("image/")) analysePhoto(file);
    else uploadVideo(file);
  }

  const dropzone = $("dropzone");
  $("file").addEventListener("change", (event) => {
    handleFile(event.target.files[0]);
    event.target.value = ""; // the same file can be picked again (after an error, say)
  });
  dropzone.addEventListener("dragover", (event) => { event.preventDefault(); dropzone.classList.add("over"); });
  dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropzone.classList.remove("over");
    handleFile(event.dataTransfer.files[0]);
  });

  function resetJobView(name) {
    $("job").hidden = false;
    $("job-name").textContent = name;
    $("job-status").textContent = "";
    for (const id of ["uploading", "processing", "result", "photo-result"]) $(id).hidden = true;
  }

  // ---- videos ----
  function uploadVideo(file) {
    resetJobView(file.name);
    $("uploading").hidden = false;
    const form = new FormData();
    form.append("video", file);
    const request = new XMLHttpRequest();
    request.open("POST", "/api/videos");
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) $("upload-progress").value = event.loaded / event.total;
    };
    request.onload = () => {
      $("uploading").hidden = true;
      let body = null;
      try { body = JSON.parse(request.responseText); } catch { /* a proxy's error page */ }
      if (request.status !== 202 || !body || !body.id) {
        showMessage(`Upload failed: ${errorMessage(request.status, request.statusText, request.responseText)}`);
        $("job").hidden = true;
        return;
      }
      saveRecent([{ id: body.id, token: body.token, name: file.name, created: Date.now() }, ...recentJobs()]);
      follow(body.id, file.name);
    };
    request.onerror = () => {
      showMessage("The upload failed: the server could not be reached.");
      $("job").hidden = true;
    };
    request.send(form);
  }

  function follow(id, name) {
    resetJobView(name);
    current = { id, name, startedAt: null };
    $("processing").hidden = false;
    socket.emit("watch_job", id, (job) => (job.error ? gone() : showJob(job)));
    clearInterval(pollTimer);
    pollTimer = setInterval(poll, 2000); // fallback when Socket.IO is not connected
  }

  async function poll() {
    if (!current || socket.connected) return;
    try {
      showJob(await fetchJSON(`/api/videos/${current.id}`));
    } catch (error) {
      if (error.status === 404) gone(); // otherwise the next poll tries again
    }
  }

  function gone() {
    clearInterval(pollTimer);
    $("processing").hidden = true;
    $("job-status").textContent = "expired or deleted";
  }

  socket.on("job", (job) => { if (current && job.id === current.id) showJob(job); });

  function showJob(job) {
    $("job-status").textContent = job.status;
    $("job-status").dataset.status = job.status;
    if (job.status === "processing" || job.status === "queued") {
      $("processing").hidden = false;
      $("process-progress").value = job.progress;
      $("frames").textContent = `${job.frames_done} / ${job.frames_total || "?"} frames`;
      if (job.status === "processing" && job.progress > 0) {
        current.startedAt = current.startedAt || { time: Date.now(), progress: job.progress };
        const rate = (job.progress - current.startedAt.progress) / ((Date.now() - current.startedAt.time) / 1000);
        if (rate > 0) $("eta").textContent = `about ${Math.ceil((1 - job.progress) / rate)} s left`;
      }
      return;
    }
    clearInterval(pollTimer);
    $("processing").hidden = true;
    if (job.status === "done") showResult(job.id);
    else if (job.status === "failed") showMessage(`Processing failed: ${job.error}`);
  }

  $("cancel").addEventListener("click", () => {
    if (current) fetch(`/api/videos/${current.id}/cancel`, { method: "POST", headers: ownerHeaders(current.id) });
  });

  async function showResult(id) {
    $("result").hidden = false;
    $("result-video").src = `/api/videos/${id}/video`;
    $("download-video").href = `/api/videos/${id}/video?download=1`;
    $("download-csv").href = `/api/videos/${id}/results.csv?download=1`;
    $("download-json").href = `/api/videos/${id}/results.json?download=1`;
    let results;
    try {
      results = await fetchJSON(`/api/videos/${id}/results.json`);
    } catch (error) {
      showMessage(`The results could not be loaded: ${error.message}`);
      return;
    }
    if (results.video.audio_damaged) {
      showMessage("The video's sound track is damaged: the annotated video has no sound.");
    }
    const byFace = new Map();
    for (const row of results.rows) {
      if (!byFace.has(row.face_id)) byFace.set(row.face_id, []);
      byFace.get(row.face_id).push(row);
    }
    // The chart's clock is the player's: a row's time counts from the video's first
    // frame, which the player shows at video_start (a picture that starts after its sound).
    const info = results.video;
    const timeline = { start: info.video_start || 0, end: (info.video_start || 0) + info.frames / info.fps };
    const faces = [...byFace.entries()].sort((a, b) => b[1].length - a[1].length); // most in view first
    $("face-select").replaceChildren(...faces.map(([faceId, rows]) =>
      new Option(`Face ${faceId} (${(rows.length / info.fps).toFixed(1)} s in view)`, faceId)));
    const draw = () => drawChart(byFace.get(Number($("face-select").value)) || [], timeline);
    $("face-select").onchange = draw;
    draw();
    const bins = roomBins(results.rows, info, timeline);
    drawRoom(bins, timeline);
    drawSummary(new Map(faces));
    shown = { name: current ? current.name : id, results, bins };
  }

  let shown = null; // the results on view: what the report and the room chart's PNG are made of

  function save(name, href) {
    const link = document.createElement("a");
    link.download = name;
    link.href = href;
    link.click();
  }

  $("download-report").addEventListener("click", async () => {
    if (!shown) return;
    $("download-report").disabled = true;
    try {
      const html = await window.REPORT.build({ ...shown, video: $("result-video") });
      const href = URL.createObjectURL(new Blob([html], { type: "text/html" }));
      save(`${fileStem(shown.name)}-report.html`, href);
      setTimeout(() => URL.revokeObjectURL(href), 10_000);
    } finally {
      $("download-report").disabled = false;
    }
  });

  $("download-room").addEventListener("click", () => {
    if (!roomChart) return;
    const source = roomChart.canvas;
    const canvas = document.createElement("canvas");
    canvas.width = source.width;
    canvas.height = source.height;
    const context = canvas.getContext("2d");
    context.fillStyle = "#101418";
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.drawImage(source, 0, 0);
    save(`${fileStem(shown ? shown.name : "video")}-room.png`, canvas.toDataURL("image/png"));
  });

  // The room over time, in bins of at least half a second: faces in view (mean per
  // frame) and the share of each emotion among them (uncertain faces in grey).
  function roomBins(rows, info, timeline) {
    const frames = Math.max(1, Math.round(info.frames));
    const perBin = Math.max(Math.round(info.fps / 2), Math.ceil(frames / 400));
    const bins = [];
    for (let first = 0; first < frames; first += perBin) {
      bins.push({ x: timeline.start + (first + perBin / 2) / info.fps, frames: Math.min(perBin, frames - first), counts: {} });
    }
    for (const row of rows) {
      const bin = bins[Math.min(bins.length - 1, Math.floor(row.frame / perBin))];
      bin.counts[row.emotion] = (bin.counts[row.emotion] || 0) + 1;
    }
    return bins.map((bin) => {
      const total = Object.values(bin.counts).reduce((a, b) => a + b, 0);
      return { x: bin.x, faces: total / bin.frames, share: (emotion) => (total ? (bin.counts[emotion] || 0) / total : 0) };
    });
  }

  function drawRoom(bins, timeline) {
    const labels = [...EMOTIONS, "uncertain"];
    if (roomChart) roomChart.destroy();
    roomChart = new Chart($("room-chart"), {
      type: "line",
      data: {
        datasets: [
          ...labels.map((emotion, index) => ({
            label: emotion,
            data: bins.map((bin) => ({ x: bin.x, y: bin.share(emotion) })),
            borderColor: EMOTION_COLOURS[emotion] || UNCERTAIN_COLOUR,
            backgroundColor: EMOTION_COLOURS[emotion] || UNCERTAIN_COLOUR,
            fill: index === 0 ? "origin" : "-1", pointRadius: 0, borderWidth: 0, stack: "share", yAxisID: "y",
          })),
          { label: "faces in view", data: bins.map((bin) => ({ x: bin.x, y: bin.faces })),
            borderColor: "#4fc3f7", backgroundColor: "#4fc3f7", pointRadius: 0, borderWidth: 3,
            fill: false, yAxisID: "faces", order: -1 },
        ],
      },
      plugins: [playhead],
      options: timeChartOptions(timeline, {
        y: { stacked: true, min: 0, max: 1, title: { display: true, text: "share of faces" } },
        faces: { position: "right", min: 0, suggestedMax: 2, ticks: { precision: 0 }, grid: { drawOnChartArea: false },
          title: { display: true, text: "faces" } },
      }),
    });
  }

  // A vertical line at the player's time, drawn over the chart.
  const playhead = {
    id: "playhead",
    afterDatasetsDraw(chartInstance) {
      const { ctx, chartArea, scales } = chartInstance;
      const x = scales.x.getPixelForValue($("result-video").currentTime);
      if (x < chartArea.left || x > chartArea.right) return;
      ctx.save();
      ctx.strokeStyle = "#e8edf2";
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.moveTo(x, chartArea.top);
      ctx.lineTo(x, chartArea.bottom);
      ctx.stroke();
      ctx.restore();
    },
  };

  function drawChart(rows, timeline) {
    if (chart) chart.destroy();
    chart = new Chart($("chart"), {
      type: "line",
      data: {
        datasets: EMOTIONS.map((emotion) => ({
          label: emotion,
          data: rows.map((row) => ({ x: timeline.start + row.time, y: row[emotion] })),
          borderColor: EMOTION_COLOURS[emotion],
          backgroundColor: EMOTION_COLOURS[emotion],
          pointRadius: 0,
          borderWidth: 2,
        })),
      },
      plugins: [playhead],
      options: timeChartOptions(timeline, {
        y: { min: 0, max: 1, title: { display: true, text: "probability" } },
      }),
    });
  }

  // Options of a chart on the video's time axis: the player's clock, and a click on
  // the chart takes the player to that moment.
  function timeChartOptions(timeline, scales) {
    return {
      animation: false,
      parsing: false,
      maintainAspectRatio: false,
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      onClick: (event, elements, chartInstance) => {
        const seconds = chartInstance.scales.x.getValueForPixel(event.x);
        $("result-video").currentTime = Math.min(Math.max(seconds, 0), timeline.end);
      },
      scales: {
        x: { type: "linear", min: 0, max: timeline.end, title: { display: true, text: "seconds (the player's time)" } },
        ...scales,
      },
    };
  }

  // The playhead follows the player, also while it is paused and sought.
  for (const event of ["timeupdate", "seeked"]) {
    $("result-video").addEventListener(event, () => {
      if (chart) chart.draw();
      if (roomChart) roomChart.draw();
    });
  }

  function drawSummary(byFace) {
    const header = document.createElement("tr");
    header.append(...["face", "frames", ...EMOTIONS, "uncertain", "attending"].map((text) => {
      const cell = document.createElement("th");
      cell.textContent = text;
      return cell;
    }));
    const rows = [...byFace.entries()].map(([faceId, faceRows]) => {
      const row = document.createElement("tr");
      const share = (test) => `${((faceRows.filter(test).length / faceRows.length) * 100).toFixed(0)}%`;
      const posed = faceRows.filter((r) => r.attending === 0 || r.attending === 1);
      const cells = [`Face ${faceId}`, String(faceRows.length),
        ...[...EMOTIONS, "uncertain"].map((emotion) => share((r) => r.emotion === emotion)),
        posed.length ? `${((posed.filter((r) => r.attending === 1).length / posed.length) * 100).toFixed(0)}%` : "–"];
      row.append(...cells.map((text) => {
        const cell = document.createElement("td");
        cell.textContent = text;
        return cell;
      }));
      return row;
    });
    $("summary").replaceChildren(header, ...rows);
  }

  // The server's rule for download names (webapp/jobs/uploads.py: download_stem).
  function fileStem(name) {
    const base = (name || "").split(/[\\/]/).pop().replace(/\.[^.]*$/, "");
    return base.replace(/[^\w.-]+/g, "-").replace(/^[-.]+|[-.]+$/g, "").slice(0, 80) || "photo";
  }

  // ---- photos: analysed at once ----
  async function analysePhoto(file) {
    resetJobView(file.name);
    const form = new FormData();
    form.append("image", file);
    let body;
    try {
      body = await fetchJSON("/api/analyze", { method: "POST", body: form });
    } catch (error) {
      showMessage(`Analysis failed: ${error.message}`);
      $("job").hidden = true;
      return;
    }
    const image = await createImageBitmap(file);
    const canvas = $("photo-canvas");
    canvas.width = image.width;
    canvas.height = image.height;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const line = Math.max(2, Math.round(Math.min(image.width, image.height) / 240));
    context.lineWidth = line;
    context.font = `600 ${line * 8}px system-ui, sans-serif`;
    context.textBaseline = "bottom";
    for (const face of body.faces) {
      const [x, y, w, h] = face.box;
      const colour = faceColour(face);
      context.strokeStyle = colour;
      context.strokeRect(x, y, w, h);
      const label = `${face.id}: ${faceLabel(face)}`;
      context.fillStyle = colour;
      context.fillRect(x, y - line * 10, context.measureText(label).width + line * 2, line * 10);
      context.fillStyle = "#00131d";
      context.fillText(label, x + line, y - line);
    }
    $("photo-result").hidden = false;
    $("job-status").textContent = `${body.faces.length} face(s)`;
    const stem = fileStem(file.name);
    $("download-photo").download = `${stem}-annotated.png`;
    $("download-photo-json").download = `${stem}-faces.json`;
    $("download-photo").href = canvas.toDataURL("image/png");
    $("download-photo-json").href = URL.createObjectURL(new Blob([JSON.stringify(body, null, 2)], { type: "application/json" }));
  }

  renderRecent();
})();
