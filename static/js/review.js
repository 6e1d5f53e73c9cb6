// The per-person views that the results view and the live page share, from a session's
// summary (GET /api/videos/<id>/summary, or report.js: summarize) and its rows: a timeline
// of each person (their emotion over time, a playhead, their strongest moments), a table
// of each person, and charts on the session's time axis (the room chart among them).
"use strict";

(function () {
  const { EMOTION_COLOURS, UNCERTAIN_COLOUR } = window.EMOTION_UI;
  const { stripSvg, rowsByPerson } = window.REPORT;
  const UNCERTAIN = "uncertain";
  const NEAR_FRAMES = 1; // a person is in view at a frame with a row this many frames away at most
  const colour = (emotion) => EMOTION_COLOURS[emotion] || UNCERTAIN_COLOUR;
  const percent = (share) => `${Math.round(share * 100)}%`;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // The people of a summary, most in view first, with their rows (a Set of their frames
  // tells when they are in view) and the elements that show them (marked in view).
  function peopleOf(summary, rows) {
    const byPerson = rowsByPerson(rows);
    return summary.persons.map((person) => {
      const personRows = byPerson.get(person.person_id) || [];
      return { summary: person, rows: personRows, frames: new Set(personRows.map((r) => r.frame)), elements: [] };
    });
  }

  const personName = (person) => `Person ${person.summary.person_id}`;

  // A button "12.3 s happy 91%" that takes the player to the moment (the middle of its
  // frame); plain text without a player.
  function momentButton(moment, axis, onSeek) {
    const text = `${moment.time.toFixed(1)} s ${moment.emotion} ${percent(moment.confidence)}`;
    const node = element(onSeek ? "button" : "span", "moment", text);
    node.style.setProperty("--moment-colour", colour(moment.emotion));
    if (onSeek) {
      node.type = "button";
      node.addEventListener("click", () => onSeek(moment.time + (axis.fps ? 0.5 / axis.fps : 0)));
    }
    return node;
  }

  // The strip of a person's emotion over the time axis; a click takes the player there.
  function strip(person, axis, onSeek) {
    const box = element("div", "strip");
    box.innerHTML = stripSvg(person.rows, axis); // made of numbers and palette colours only
    box.title = `${personName(person)}'s emotion over time`;
    if (!onSeek) return box;
    box.classList.add("seekable");
    box.append(element("span", "playhead"));
    box.addEventListener("click", (event) => {
      const rect = box.getBoundingClientRect();
      onSeek(((event.clientX - rect.left) / rect.width) * axis.end);
    });
    return box;
  }

  // `options`: onSeek(seconds) where a click takes the player (none on the live page),
  // onPick(index) when a person's name is pressed (the chart of that person).
  function timelineRow(person, index, axis, { onSeek, onPick } = {}) {
    const block = element("div", "person");
    block.dataset.person = person.summary.person_id;
    const name = onPick ? element("button", "person-name", personName(person)) : element("strong", "person-name", personName(person));
    if (onPick) {
      name.type = "button";
      name.addEventListener("click", () => onPick(index));
    }
    const p = person.summary;
    const title = element("div", "person-title");
    title.append(name, element("span", "muted", ` mostly ${p.dominant}, ${p.seconds_in_view.toFixed(1)} s in view`),
      element("span", "in-view-badge", "in view"));
    const moments = element("div", "moments");
    moments.append(...p.moments.map((m) => momentButton(m, axis, onSeek)));
    block.append(title, strip(person, axis, onSeek), moments);
    person.elements.push(block);
    return block;
  }

  // One timeline per person, on the axis {start, end, fps} (the player's clock).
  function drawTimelines(container, people, axis, options) {
    container.replaceChildren(...people.map((person, index) => timelineRow(person, index, axis, options)));
  }

  // The table of each person: time in view, share of each emotion, dominant, attending.
  function drawTable(table, people, labels) {
    const columns = [...labels, UNCERTAIN];
    const header = element("tr");
    header.append(...["person", "in view", ...columns, "dominant", "attending"].map((text) => element("th", "", text)));
    const rows = people.map((person) => {
      const p = person.summary;
      const row = element("tr");
      row.dataset.person = p.person_id;
      const cells = [personName(person), `${p.seconds_in_view.toFixed(1)} s`, ...columns.map((e) => percent(p.shares[e])),
        p.dominant, p.attending === null ? "–" : percent(p.attending)];
      row.append(...cells.map((text) => element("td", "", text)));
      person.elements.push(row);
      return row;
    });
    table.replaceChildren(header, ...rows);
  }

  // Whether a person is in view at `seconds` on the player's clock.
  function inViewAt(person, seconds, axis) {
    const frame = Math.floor((seconds - axis.start) * axis.fps + 1e-6);
    for (let f = frame - NEAR_FRAMES; f <= frame + NEAR_FRAMES; f += 1) if (person.frames.has(f)) return true;
    return false;
  }

  // Marks the people in view (class in-view on their timeline and table row).
  function markInView(people, isInView) {
    for (const person of people) {
      const inView = isInView(person);
      for (const node of person.elements) node.classList.toggle("in-view", inView);
    }
  }

  function movePlayheads(container, seconds, end) {
    const left = `${(Math.min(Math.max(seconds / end, 0), 1) * 100).toFixed(2)}%`;
    for (const playhead of container.querySelectorAll(".playhead")) playhead.style.left = left;
  }

  // ---- charts on the time axis (Chart.js) ----

  // A vertical line at the player's time (`now()`), drawn over a chart.
  function playheadPlugin(now) {
    return {
      id: "playhead",
      afterDatasetsDraw(chartInstance) {
        const { ctx, chartArea, scales } = chartInstance;
        const x = scales.x.getPixelForValue(now());
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
  }

  // Options of a chart on the time axis 0..axis.end: a click on the chart calls onSeek
  // with that moment (when there is a player).
  function timeChartOptions(axis, scales, onSeek) {
    return {
      animation: false,
      parsing: false,
      maintainAspectRatio: false,
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      onClick: onSeek ? (event, elements, chartInstance) => onSeek(chartInstance.scales.x.getValueForPixel(event.x)) : undefined,
      scales: {
        x: { type: "linear", min: 0, max: axis.end, title: { display: true, text: "seconds (the player's time)" } },
        ...scales,
      },
    };
  }

  // The room over time (summary.room): the share of each emotion among the faces in
  // view (stacked areas, uncertain in grey) and the faces in view (a line).
  function roomChart(canvas, room, axis, { onSeek, now } = {}) {
    const labels = Object.keys(room.shares);
    return new Chart(canvas, {
      type: "line",
      data: {
        datasets: [
          ...labels.map((emotion, index) => ({
            label: emotion,
            data: room.times.map((x, i) => ({ x, y: room.shares[emotion][i] })),
            borderColor: colour(emotion), backgroundColor: colour(emotion),
            fill: index === 0 ? "origin" : "-1", pointRadius: 0, borderWidth: 0, stack: "share", yAxisID: "y",
          })),
          { label: "faces in view", data: room.times.map((x, i) => ({ x, y: room.faces[i] })),
            borderColor: "#4fc3f7", backgroundColor: "#4fc3f7", pointRadius: 0, borderWidth: 3,
            fill: false, yAxisID: "faces", order: -1 },
        ],
      },
      plugins: now ? [playheadPlugin(now)] : [],
      options: timeChartOptions(axis, {
        y: { stacked: true, min: 0, max: 1, title: { display: true, text: "share of faces" } },
        faces: { position: "right", min: 0, suggestedMax: 2, ticks: { precision: 0 }, grid: { drawOnChartArea: false },
          title: { display: true, text: "faces" } },
      }, onSeek),
    });
  }

  // A chart's canvas as a PNG on the page's background (the chart itself is transparent).
  function chartPng(chartInstance) {
    const source = chartInstance.canvas;
    const canvas = document.createElement("canvas");
    canvas.width = source.width;
    canvas.height = source.height;
    const context = canvas.getContext("2d");
    context.fillStyle = "#101418";
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.drawImage(source, 0, 0);
    return canvas.toDataURL("image/png");
  }

  window.REVIEW = Object.freeze({
    peopleOf, drawTimelines, drawTable, inViewAt, markInView, movePlayheads,
    playheadPlugin, timeChartOptions, roomChart, chartPng,
  });
})();
