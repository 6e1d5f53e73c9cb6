// A report to share: one self-contained HTML file (inline SVG charts, a summary table, the
// strongest moments of each face as pictures taken from the player; no scripts and no
// requests), built in the page from a video's results.
"use strict";

(function () {
  const { EMOTIONS, EMOTION_COLOURS, UNCERTAIN_COLOUR } = window.EMOTION_UI;
  const colour = (emotion) => EMOTION_COLOURS[emotion] || UNCERTAIN_COLOUR;
  const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const percent = (share) => `${Math.round(share * 100)}%`;

  // Per face: frames, seconds in view, share of each emotion, attending, the strongest moments.
  function faceSummaries(rows, info) {
    const faces = new Map();
    for (const row of rows) {
      if (!faces.has(row.face_id)) faces.set(row.face_id, []);
      faces.get(row.face_id).push(row);
    }
    return [...faces.entries()].map(([id, faceRows]) => {
      const shares = Object.fromEntries([...EMOTIONS, "uncertain"].map((emotion) =>
        [emotion, faceRows.filter((r) => r.emotion === emotion).length / faceRows.length]));
      const dominant = EMOTIONS.reduce((a, b) => (shares[b] > shares[a] ? b : a), EMOTIONS[0]);
      const posed = faceRows.filter((r) => r.attending === 0 || r.attending === 1);
      return {
        id, rows: faceRows, seconds: faceRows.length / info.fps, shares, dominant,
        attending: posed.length ? posed.filter((r) => r.attending === 1).length / posed.length : null,
        moments: strongestMoments(faceRows, 3),
      };
    }).sort((a, b) => b.rows.length - a.rows.length);
  }

  // The most confident labelled rows, at least a second apart.
  function strongestMoments(rows, count) {
    const chosen = [];
    for (const row of [...rows].filter((r) => r.emotion !== "uncertain").sort((a, b) => b.confidence - a.confidence)) {
      if (chosen.every((c) => Math.abs(c.time - row.time) >= 1)) chosen.push(row);
      if (chosen.length === count) break;
    }
    return chosen.sort((a, b) => a.time - b.time);
  }

  // A picture of a face at a moment, from the player (same origin: the canvas stays readable).
  function seek(video, seconds) {
    return new Promise((resolve) => {
      video.addEventListener("seeked", resolve, { once: true });
      video.currentTime = seconds;
    });
  }

  // The inside of the face's box, clear of the box and the label drawn on the video.
  async function faceSnapshot(video, row, start) {
    await seek(video, start + row.time + 0.5 / 30);
    const inset = 0.06;
    const x = Math.max(0, row.x + row.w * inset);
    const y = Math.max(0, row.y + row.h * inset);
    const w = Math.max(1, Math.min(video.videoWidth - x, row.w * (1 - 2 * inset)));
    const h = Math.max(1, Math.min(video.videoHeight - y, row.h * (1 - 2 * inset)));
    const canvas = document.createElement("canvas");
    canvas.height = 120;
    canvas.width = Math.max(1, Math.round((120 * w) / h));
    canvas.getContext("2d").drawImage(video, x, y, w, h, 0, 0, canvas.width, canvas.height);
    return canvas.toDataURL("image/jpeg", 0.85);
  }

  // The room as stacked areas (the share of each emotion) and a line (faces in view), in SVG.
  function roomSvg(bins, end, width = 900, height = 220) {
    const x = (seconds) => ((seconds / end) * width).toFixed(1);
    const y = (share) => (height - share * height).toFixed(1);
    const most = Math.max(1, ...bins.map((b) => b.faces));
    let below = bins.map(() => 0);
    const areas = [...EMOTIONS, "uncertain"].map((emotion) => {
      const above = bins.map((b, i) => below[i] + b.share(emotion));
      const top = bins.map((b, i) => `${x(b.x)},${y(above[i])}`);
      const bottom = bins.map((b, i) => `${x(b.x)},${y(below[i])}`).reverse();
      below = above;
      return `<polygon points="${[...top, ...bottom].join(" ")}" fill="${colour(emotion)}"><title>${emotion}</title></polygon>`;
    });
    const line = bins.map((b) => `${x(b.x)},${y(b.faces / most)}`).join(" ");
    return `<svg viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="the room over time">
      <rect width="${width}" height="${height}" fill="#0b0e11"/>${areas.join("")}
      <polyline points="${line}" fill="none" stroke="#4fc3f7" stroke-width="3"><title>faces in view (at most ${most.toFixed(1)})</title></polyline></svg>`;
  }

  // One strip per face: its emotion frame by frame on the video's time axis.
  function stripSvg(face, info, start, end, width = 900, height = 26) {
    const frameWidth = Math.max(1, width / (end * info.fps));
    const cells = face.rows.map((r) => `<rect x="${(((start + r.time) / end) * width).toFixed(1)}" width="${frameWidth.toFixed(2)}" height="${height}" fill="${colour(r.emotion)}"/>`);
    return `<svg viewBox="0 0 ${width} ${height}" width="100%" preserveAspectRatio="none"><rect width="${width}" height="${height}" fill="#1b2128"/>${cells.join("")}</svg>`;
  }

  async function build({ name, results, bins, video }) {
    const info = results.video;
    const start = info.video_start || 0;
    const end = start + info.frames / info.fps;
    const faces = faceSummaries(results.rows, info);
    const wasTime = video.currentTime;
    video.pause();
    for (const face of faces) {
      face.pictures = [];
      for (const moment of face.moments) face.pictures.push([moment, await faceSnapshot(video, moment, start)]);
    }
    await seek(video, wasTime);
    const header = ["face", "in view", ...EMOTIONS, "uncertain", "dominant", "attending"];
    const table = `<table><tr>${header.map((h) => `<th>${h}</th>`).join("")}</tr>${faces.map((f) => `<tr><td>Face ${f.id}</td><td>${f.seconds.toFixed(1)} s</td>${[...EMOTIONS, "uncertain"].map((e) => `<td>${percent(f.shares[e])}</td>`).join("")}<td>${f.dominant}</td><td>${f.attending === null ? "–" : percent(f.attending)}</td></tr>`).join("")}</table>`;
    const people = faces.map((f) => `<section class="face"><h3>Face ${f.id}: mostly ${f.dominant}, ${f.seconds.toFixed(1)} s in view</h3>
      ${stripSvg(f, info, start, end)}
      <div class="moments">${f.pictures.map(([m, src]) => `<figure><img src="${src}" alt="Face ${f.id} at ${(start + m.time).toFixed(1)} s"><figcaption>${(start + m.time).toFixed(1)} s: ${m.emotion} ${percent(m.confidence)}</figcaption></figure>`).join("")}</div></section>`);
    const legend = [...EMOTIONS, "uncertain"].map((e) => `<span><i style="background:${colour(e)}"></i>${e}</span>`).join("");
    return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Emotions in ${escape(name)}</title><style>
body{margin:0 auto;max-width:960px;padding:1rem;font:15px/1.4 system-ui,sans-serif;background:#101418;color:#e8edf2}
h1{font-size:1.3rem}h2{font-size:1rem;color:#93a1b0;margin-top:1.5rem}h3{font-size:.95rem;margin:.8rem 0 .3rem}
table{border-collapse:collapse;width:100%;font-size:.8rem}th,td{padding:.25rem .4rem;border-bottom:1px solid #2a323c;text-align:right}
th:first-child,td:first-child{text-align:left}.legend span{margin-right:.8rem;font-size:.8rem}.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.25rem;vertical-align:-1px}
.moments{display:flex;flex-wrap:wrap;gap:.5rem}figure{margin:0}figure img{height:120px;border-radius:4px}figcaption{font-size:.75rem;color:#93a1b0}
.wrap{overflow-x:auto}.muted{color:#93a1b0;font-size:.8rem}</style></head><body>
<h1>Emotions in ${escape(name)}</h1>
<p class="muted">${info.frames} frames, ${(info.frames / info.fps).toFixed(1)} s at ${Number(info.fps).toFixed(2)} fps; ${faces.length} face(s) followed. Made ${new Date().toLocaleString()} by the emotion recognition app; times are the player's. A face marked uncertain had a label the app would not back (too small, dark, turned away...).</p>
<h2>The room: share of each emotion among the faces in view (areas) and faces in view (line)</h2>
${roomSvg(bins, end)}<p class="legend">${legend}<span><i style="background:#4fc3f7"></i>faces in view</span></p>
<h2>Each face</h2><div class="wrap">${table}</div>
<h2>Each face over time, and its strongest moments</h2>${people.join("")}
</body></html>`;
  }

  window.REPORT = Object.freeze({ build, faceSummaries });
})();
