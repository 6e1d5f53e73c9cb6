// Upload page: a video becomes a background job (progress over Socket.IO, polling
// as the fallback); a photo is analysed at once and annotated in the page.
"use strict";

(function () {
  const { EMOTIONS, EMOTION_COLOURS, faceLabel, faceColour, placeTags } = window.EMOTION_UI;
  const { $, showMessage, errorMessage, fetchJSON } = window.COMMON;
  const { REPORT, REVIEW } = window;
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
    // Once a job: its "done" can come from the watch's answer, a pushed event and a poll,
    // and showing it again would reload the player under a visitor already reviewing.
    if (job.status === "done" && current && current.id === job.id && !current.shown) {
      current.shown = true;
      showResult(job.id);
    }
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
    const summary = await loadSummary(id, results);
    // The charts' clock is the player's: a row's time counts from the video's first
    // frame, which the player shows at video_start (a picture that starts after its sound).
    const axis = { start: summary.video_start || 0, end: REPORT.axisEnd(summary), fps: results.video.fps };
    const people = REVIEW.peopleOf(summary, results.rows); // most in view first
    shown = { name: current ? current.name : id, results, summary, axis, people };
    REVIEW.drawTimelines($("people"), people, axis, { onSeek: seekPlayer, onPick: pickPerson });
    REVIEW.drawTable($("summary"), people, summary.labels);
    $("people-count").textContent = `${people.length} person(s)`;
    $("person-select").replaceChildren(...people.map((person, index) =>
      new Option(`Person ${person.summary.person_id} (${person.summary.seconds_in_view.toFixed(1)} s in view)`, index)));
    $("person-select").onchange = () => pickPerson(Number($("person-select").value));
    pickPerson(0);
    if (roomChart) roomChart.destroy();
    roomChart = REVIEW.roomChart($("room-chart"), summary.room, axis, { onSeek: seekPlayer, now: playerTime });
    followPlayer();
  }

  // The job's summary (per person, and the room); computed here from the results where
  // the server's cannot be had.
  async function loadSummary(id, results) {
    try {
      return await fetchJSON(`/api/videos/${id}/summary`);
    } catch {
      const info = results.video;
      return REPORT.summarize(results.rows, info.frames, info.fps, info.video_start);
    }
  }

  let shown = null; // the results on view: {name, results, summary, axis, people}

  const playerTime = () => $("result-video").currentTime;

  function seekPlayer(seconds) {
    if (shown) $("result-video").currentTime = Math.min(Math.max(seconds, 0), shown.axis.end);
  }

  // The probability chart shows this person (an index into shown.people).
  function pickPerson(index) {
    const person = shown.people[index];
    $("person-select").value = String(index);
    drawChart(person ? person.rows : [], shown.axis);
  }

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
      const { name, results, summary } = shown;
      const html = await REPORT.build({ name, results, summary, video: $("result-video") });
      const href = URL.createObjectURL(new Blob([html], { type: "text/html" }));
      save(`${fileStem(shown.name)}-report.html`, href);
      setTimeout(() => URL.revokeObjectURL(href), 10_000);
    } finally {
      $("download-report").disabled = false;
    }
  });

  $("download-room").addEventListener("click", () => {
    if (roomChart) save(`${fileStem(shown ? shown.name : "video")}-room.png`, REVIEW.chartPng(roomChart));
  });

  // A person's rows as points, broken where they were out of view (over 2 frames).
  function points(rows, axis, value) {
    const data = [];
    rows.forEach((row, i) => {
      if (i && row.frame - rows[i - 1].frame > 2) data.push({ x: axis.start + row.time, y: null });
      data.push({ x: axis.start + row.time, y: value(row) });
    });
    return data;
  }

  function drawChart(rows, axis) {
    if (chart) chart.destroy();
    chart = new Chart($("chart"), {
      type: "line",
      data: {
        datasets: EMOTIONS.map((emotion) => ({
          label: emotion,
          data: points(rows, axis, (row) => row[emotion]),
          borderColor: EMOTION_COLOURS[emotion],
          backgroundColor: EMOTION_COLOURS[emotion],
          pointRadius: 0,
          borderWidth: 2,
        })),
      },
      plugins: [REVIEW.playheadPlugin(playerTime)],
      options: REVIEW.timeChartOptions(axis, {
        y: { min: 0, max: 1, title: { display: true, text: "probability" } },
      }, seekPlayer),
    });
  }

  // The playheads follow the player, also while it is paused and sought; the people in
  // view at its time are marked.
  function followPlayer() {
    if (chart) chart.draw();
    if (roomChart) roomChart.draw();
    if (!shown) return;
    const seconds = playerTime();
    REVIEW.movePlayheads($("people"), seconds, shown.axis.end);
    REVIEW.markInView(shown.people, (person) => REVIEW.inViewAt(person, seconds, shown.axis));
  }

  for (const event of ["timeupdate", "seeked"]) $("result-video").addEventListener(event, followPlayer);

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
    context.textBaseline = "bottom";
    // a small face's label is written smaller (down to 12 px), placed off the other faces
    const fonts = body.faces.map((face) => Math.round(Math.max(12, Math.min(line * 8, face.box[2] / 4.5))));
    const labels = body.faces.map((face) => `${face.id}: ${faceLabel(face)}`);
    const sizes = labels.map((label, i) => {
      context.font = `600 ${fonts[i]}px system-ui, sans-serif`;
      return [context.measureText(label).width + fonts[i] / 4, fonts[i] * 1.25];
    });
    const tags = placeTags(body.faces.map((face) => face.box), sizes, [image.width, image.height]);
    for (const face of body.faces) {
      context.strokeStyle = faceColour(face);
      context.strokeRect(...face.box);
    }
    body.faces.forEach((face, i) => {
      const [left, top] = tags[i];
      context.fillStyle = faceColour(face);
      context.fillRect(left, top, ...sizes[i]);
      context.font = `600 ${fonts[i]}px system-ui, sans-serif`;
      context.fillStyle = "#00131d";
      context.fillText(labels[i], left + fonts[i] / 8, top + fonts[i] * 1.15);
    });
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
