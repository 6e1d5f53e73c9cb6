// A session in figures, and a report to share.
// summarize(): each person's time in view, emotions, attention and strongest moments, and
// the room over time: a port of webapp/vision/summary.py (same schema, same rounding; the
// two are tested against each other), for a live session, whose rows stay in the page.
// build(): one self-contained HTML file (inline SVG charts, a table of each person, the
// strongest moments of each person, as pictures taken from the player where there is one;
// no scripts and no requests).
"use strict";

(function () {
  const { EMOTIONS, EMOTION_COLOURS, UNCERTAIN_COLOUR } = window.EMOTION_UI;
  const UNCERTAIN = "uncertain";
  const MOMENTS = 3; // strongest moments kept per person
  const MOMENT_SPACING = 1.0; // seconds between two moments of one person
  const MAX_BINS = 400; // the room chart's resolution at most
  const MIN_BIN_SECONDS = 0.5; // the room's bins: this long, or longer to keep within MAX_BINS
  const colour = (emotion) => EMOTION_COLOURS[emotion] || UNCERTAIN_COLOUR;
  const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const percent = (share) => `${Math.round(share * 100)}%`;

  // ---- the summary (webapp/vision/summary.py) ----

  // Python's round(x, digits): the decimal nearest to the number's exact binary value,
  // a tie to the even digit (toFixed takes a tie up, and 0.0625 or 12.5 are ties).
  function pyRound(x, digits = 0) {
    if (!Number.isFinite(x)) return x;
    const [whole, fraction] = Math.abs(x).toFixed(100).split(".");
    const tie = fraction[digits] === "5" && /^0*$/.test(fraction.slice(digits + 1));
    const below = digits ? `${whole}.${fraction.slice(0, digits)}` : whole;
    if (tie && Number(below.slice(-1)) % 2 === 0) return Math.sign(x) * Number(below);
    return Number(x.toFixed(digits));
  }

  // Frames in each of the room's time bins: half a second's worth, more for long
  // sessions (at most MAX_BINS bins).
  function binFrames(frames, fps) {
    return Math.max(1, pyRound(fps * MIN_BIN_SECONDS), Math.ceil(frames / MAX_BINS));
  }

  const isPosed = (attending) => attending === 0 || attending === 1 || attending === true || attending === false;
  const personOf = (row) => ("person_id" in row ? row.person_id : row.face_id);

  function newPerson(id, labels) {
    return { id, faceIds: [], first: null, last: null, frames: 0, posed: 0, attending: 0,
      counts: Object.fromEntries([...labels, UNCERTAIN].map((label) => [label, 0])),
      bestEachSecond: new Map() }; // whole second of row time -> its most confident labelled row
  }

  // Counts a row for its person; returns what the room needs of it: [frame, emotion, attending].
  function addRow(persons, labels, row) {
    const id = personOf(row);
    if (!persons.has(id)) persons.set(id, newPerson(id, labels));
    const person = persons.get(id);
    if (!person.faceIds.includes(row.face_id)) person.faceIds.push(row.face_id);
    const seconds = Number(row.time);
    person.first = person.first === null ? seconds : Math.min(person.first, seconds);
    person.last = person.last === null ? seconds : Math.max(person.last, seconds);
    person.frames += 1;
    const emotion = Object.hasOwn(person.counts, row.emotion) ? row.emotion : UNCERTAIN;
    person.counts[emotion] += 1;
    if (isPosed(row.attending)) {
      person.posed += 1;
      person.attending += Number(row.attending);
    }
    if (emotion !== UNCERTAIN) {
      const second = Math.floor(seconds);
      const best = person.bestEachSecond.get(second);
      if (!best || row.confidence > best.confidence) {
        person.bestEachSecond.set(second, { time: seconds, emotion, confidence: row.confidence, face_id: row.face_id });
      }
    }
    return [Math.trunc(Number(row.frame)), emotion, row.attending];
  }

  // The most confident labelled moments, at least MOMENT_SPACING apart, in time order.
  function strongestMoments(person) {
    const chosen = [];
    const byStrength = [...person.bestEachSecond.values()].sort((a, b) => b.confidence - a.confidence || a.time - b.time);
    for (const moment of byStrength) {
      if (chosen.every((c) => Math.abs(moment.time - c.time) >= MOMENT_SPACING)) chosen.push(moment);
      if (chosen.length === MOMENTS) break;
    }
    return chosen.sort((a, b) => a.time - b.time);
  }

  function personSummary(person, labels, fps, start) {
    const shares = Object.fromEntries(Object.entries(person.counts).map(([label, count]) => [label, pyRound(count / person.frames, 4)]));
    const dominant = labels.reduce((best, label) => (person.counts[label] > person.counts[best] ? label : best), labels[0]);
    return {
      person_id: person.id, face_ids: person.faceIds,
      first_seen: pyRound(start + person.first, 3), last_seen: pyRound(start + person.last, 3),
      seconds_in_view: fps ? pyRound(person.frames / fps, 3) : 0, frames: person.frames, shares,
      dominant: person.counts[dominant] ? dominant : UNCERTAIN,
      attending: person.posed ? pyRound(person.attending / person.posed, 4) : null,
      moments: strongestMoments(person).map((m) => ({ ...m, time: pyRound(start + m.time, 3) })),
    };
  }

  function roomSummary(binned, labels, frames, fps, start) {
    const perBin = binFrames(frames, fps);
    const count = Math.max(1, Math.ceil(frames / perBin));
    const zeros = () => new Array(count).fill(0);
    const [faces, posed, attending] = [zeros(), zeros(), zeros()];
    const byLabel = Object.fromEntries([...labels, UNCERTAIN].map((label) => [label, zeros()]));
    for (const [frame, emotion, attends] of binned) {
      const index = Math.min(count - 1, Math.floor(frame / perBin));
      faces[index] += 1;
      byLabel[emotion][index] += 1;
      if (isPosed(attends)) {
        posed[index] += 1;
        attending[index] += Number(attends);
      }
    }
    const framesIn = faces.map((_, i) => Math.max(1, Math.min(perBin, frames - i * perBin)));
    return {
      bin_seconds: fps ? pyRound(perBin / fps, 4) : 0,
      times: framesIn.map((n, i) => (fps ? pyRound(start + (i * perBin + n / 2) / fps, 3) : 0)),
      faces: faces.map((n, i) => pyRound(n / framesIn[i], 3)),
      shares: Object.fromEntries(Object.entries(byLabel).map(([label, counts]) =>
        [label, counts.map((c, i) => (faces[i] ? pyRound(c / faces[i], 4) : 0))])),
      attending: attending.map((a, i) => (posed[i] ? pyRound(a / posed[i], 4) : null)),
    };
  }

  // The summary of a session of `frames` frames at `fps` (a live session: its answered
  // frames over its duration) from its rows in frame order; times on the player's clock.
  function summarize(rows, frames, fps, videoStart = 0, labels = EMOTIONS) {
    const start = videoStart || 0;
    const persons = new Map();
    const binned = rows.map((row) => addRow(persons, labels, row));
    const ordered = [...persons.values()].sort((a, b) => b.frames - a.frames || a.first - b.first);
    return {
      labels: [...labels], frames, fps, seconds: pyRound(fps ? frames / fps : 0, 3), video_start: start,
      persons: ordered.map((person) => personSummary(person, labels, fps, start)),
      room: roomSummary(binned, labels, frames, fps, start),
    };
  }

  // The rows of each person, by person id, in row order.
  function rowsByPerson(rows) {
    const persons = new Map();
    for (const row of rows) {
      const id = personOf(row);
      if (!persons.has(id)) persons.set(id, []);
      persons.get(id).push(row);
    }
    return persons;
  }

  // The end of a summary's time axis, on the player's clock (never 0: a scale divides by it).
  const axisEnd = (summary) => (summary.video_start || 0) + (summary.fps ? summary.frames / summary.fps : 0) || 1;

  // ---- charts as SVG ----

  // Rows one frame apart with one emotion, as one run: {from, to, emotion} (row times).
  function emotionRuns(rows) {
    const runs = [];
    let run = null;
    for (const row of rows) {
      if (run && run.emotion === row.emotion && row.frame - run.lastFrame <= 1) {
        run.to = row.time;
        run.lastFrame = row.frame;
      } else {
        run = { from: row.time, to: row.time, lastFrame: row.frame, emotion: row.emotion };
        runs.push(run);
      }
    }
    return runs;
  }

  // One person's emotion over time: a strip on the time axis 0..end (the player's clock).
  function stripSvg(rows, { start, end, fps }, width = 900, height = 26) {
    const frame = fps ? 1 / fps : 0;
    const x = (seconds) => ((seconds / end) * width).toFixed(1);
    const cells = emotionRuns(rows).map((run) => `<rect x="${x(start + run.from)}" width="${Math.max(1, ((run.to - run.from + frame) / end) * width).toFixed(1)}" height="${height}" fill="${colour(run.emotion)}"/>`);
    return `<svg viewBox="0 0 ${width} ${height}" width="100%" preserveAspectRatio="none" aria-hidden="true"><rect width="${width}" height="${height}" fill="#2a323c"/>${cells.join("")}</svg>`;
  }

  // The room (summary.room) as stacked areas (the share of each emotion) and a line (faces in view).
  function roomSvg(room, end, width = 900, height = 220) {
    const x = (seconds) => ((seconds / end) * width).toFixed(1);
    const y = (share) => (height - share * height).toFixed(1);
    const most = Math.max(1, ...room.faces);
    let below = room.times.map(() => 0);
    const areas = Object.keys(room.shares).map((emotion) => {
      const above = room.shares[emotion].map((share, i) => below[i] + share);
      const top = room.times.map((t, i) => `${x(t)},${y(above[i])}`);
      const bottom = room.times.map((t, i) => `${x(t)},${y(below[i])}`).reverse();
      below = above;
      return `<polygon points="${[...top, ...bottom].join(" ")}" fill="${colour(emotion)}"><title>${emotion}</title></polygon>`;
    });
    const line = room.times.map((t, i) => `${x(t)},${y(room.faces[i] / most)}`).join(" ");
    return `<svg viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="the room over time">
      <rect width="${width}" height="${height}" fill="#0b0e11"/>${areas.join("")}
      <polyline points="${line}" fill="none" stroke="#4fc3f7" stroke-width="3"><title>faces in view (at most ${most.toFixed(1)})</title></polyline></svg>`;
  }

  // ---- pictures of the strongest moments, from the player ----

  // A picture of a face at a moment, from the player (same origin: the canvas stays readable).
  function seek(video, seconds) {
    return new Promise((resolve) => {
      video.addEventListener("seeked", resolve, { once: true });
      video.currentTime = seconds;
    });
  }

  // The inside of the face's box, clear of the box and the label drawn on the video.
  async function faceSnapshot(video, row, start, fps) {
    await seek(video, start + row.time + 0.5 / (fps || 30));
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

  // The row a moment was taken from: its face's row nearest the moment's time.
  function momentRow(rows, moment, start) {
    const distance = (row) => Math.abs(start + row.time - moment.time);
    return rows.filter((row) => row.face_id === moment.face_id)
      .reduce((best, row) => (!best || distance(row) < distance(best) ? row : best), null);
  }

  // {person id: [picture of each moment]}; none without a player (a live session).
  async function momentPictures(video, summary, byPerson) {
    const pictures = new Map();
    if (!video) return pictures;
    const wasTime = video.currentTime;
    video.pause();
    for (const person of summary.persons) {
      const rows = byPerson.get(person.person_id) || [];
      const taken = [];
      for (const moment of person.moments) {
        const row = momentRow(rows, moment, summary.video_start || 0);
        taken.push(row ? await faceSnapshot(video, row, summary.video_start || 0, summary.fps) : null);
      }
      pictures.set(person.person_id, taken);
    }
    await seek(video, wasTime);
    return pictures;
  }

  // ---- the report ----

  function personTable(summary) {
    const labels = [...summary.labels, UNCERTAIN];
    const header = ["person", "in view", ...labels, "dominant", "attending"];
    const rows = summary.persons.map((p) => `<tr><td>Person ${escape(p.person_id)}</td><td>${p.seconds_in_view.toFixed(1)} s</td>${labels.map((e) => `<td>${percent(p.shares[e])}</td>`).join("")}<td>${p.dominant}</td><td>${p.attending === null ? "–" : percent(p.attending)}</td></tr>`);
    return `<table><tr>${header.map((h) => `<th>${h}</th>`).join("")}</tr>${rows.join("")}</table>`;
  }

  function personSection(person, rows, pictures, axis) {
    const name = `Person ${escape(person.person_id)}`;
    const figures = person.moments.map((m, i) => {
      const caption = `${m.time.toFixed(1)} s: ${m.emotion} ${percent(m.confidence)}`;
      const picture = pictures && pictures[i] ? `<img src="${pictures[i]}" alt="${name} at ${m.time.toFixed(1)} s">` : "";
      return `<figure>${picture}<figcaption>${caption}</figcaption></figure>`;
    });
    return `<section class="person"><h3>${name}: mostly ${person.dominant}, ${person.seconds_in_view.toFixed(1)} s in view</h3>
      ${stripSvg(rows, axis)}<div class="moments">${figures.join("")}</div></section>`;
  }

  function about(name, summary, info) {
    const live = info && info.source === "live";
    const what = live ? "A live session" : `${summary.frames} frames`;
    return `${what}, ${summary.seconds.toFixed(1)} s at ${Number(summary.fps).toFixed(2)} fps; ${summary.persons.length} person(s) followed. Made ${new Date().toLocaleString()} by the emotion recognition app; times are the player's${live ? " (from the session's start)" : ""}. A face marked uncertain had a label the app would not back (too small, dark, turned away...). People are told apart by their faces within this session only.`;
  }

  // The report of a session: `results` ({labels, rows, video}), its `summary` and, for a
  // video, the `video` element playing it (pictures of the strongest moments).
  async function build({ name, results, summary, video = null }) {
    const start = summary.video_start || 0;
    const axis = { start, end: axisEnd(summary), fps: summary.fps };
    const byPerson = rowsByPerson(results.rows);
    const pictures = await momentPictures(video, summary, byPerson);
    const people = summary.persons.map((p) => personSection(p, byPerson.get(p.person_id) || [], pictures.get(p.person_id), axis));
    const legend = [...summary.labels, UNCERTAIN].map((e) => `<span><i style="background:${colour(e)}"></i>${e}</span>`).join("");
    return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Emotions in ${escape(name)}</title><style>
body{margin:0 auto;max-width:960px;padding:1rem;font:15px/1.4 system-ui,sans-serif;background:#101418;color:#e8edf2}
h1{font-size:1.3rem}h2{font-size:1rem;color:#93a1b0;margin-top:1.5rem}h3{font-size:.95rem;margin:.8rem 0 .3rem}
table{border-collapse:collapse;width:100%;font-size:.8rem}th,td{padding:.25rem .4rem;border-bottom:1px solid #2a323c;text-align:right}
th:first-child,td:first-child{text-align:left}.legend span{margin-right:.8rem;font-size:.8rem}.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.25rem;vertical-align:-1px}
.moments{display:flex;flex-wrap:wrap;gap:.5rem}figure{margin:0}figure img{height:120px;border-radius:4px}figcaption{font-size:.75rem;color:#93a1b0}
.person svg{display:block;height:26px}.wrap{overflow-x:auto}.muted{color:#93a1b0;font-size:.8rem}</style></head><body>
<h1>Emotions in ${escape(name)}</h1>
<p class="muted">${escape(about(name, summary, results.video))}</p>
<h2>The room: share of each emotion among the faces in view (areas) and faces in view (line)</h2>
${roomSvg(summary.room, axis.end)}<p class="legend">${legend}<span><i style="background:#4fc3f7"></i>faces in view</span></p>
<h2>Each person</h2><div class="wrap">${personTable(summary)}</div>
<h2>Each person over time, and their strongest moments</h2>${people.join("")}
</body></html>`;
  }

  window.REPORT = Object.freeze({ build, summarize, rowsByPerson, stripSvg, roomSvg, axisEnd });
})();
