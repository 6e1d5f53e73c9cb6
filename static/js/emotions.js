// Labels and colours shared by the pages, from the server (webapp/pages.py: the
// model's output order and the palette the video is drawn in).
"use strict";

(function () {
  const settings = JSON.parse(document.getElementById("ui-settings").textContent);
  window.EMOTION_UI = Object.freeze({
    EMOTIONS: settings.emotions,
    EMOTION_COLOURS: settings.emotion_colours,
    FACE_COLOURS: settings.face_colours,
    UNCERTAIN_COLOUR: settings.uncertain_colour,
    RESULT_COLUMNS: settings.result_columns, // a video's results.csv columns (webapp/video.py)
    // What is written over a face: its emotion and confidence, or why it has none
    // (webapp/vision/draw.py: face_label).
    faceLabel: (face) => (face.uncertain ? `? ${face.uncertain}`
      : `${face.emotion} ${(face.confidence * 100).toFixed(0)}%`),
    faceColour: (face) => (face.uncertain ? settings.uncertain_colour
      : settings.face_colours[(face.id - 1) % settings.face_colours.length]),
    placeTags,
  });

  // Where each face's label tag goes, [left, top]: above its box, else below it, else
  // inside its top, left- or right-aligned, kept in the frame: the first place that
  // covers no other face and no tag placed before (else the one covering least).
  // boxes: [x, y, w, h]; sizes: [w, h]; frame: [width, height]. The same rule as the
  // video's (webapp/vision/draw.py: place_tags).
  function placeTags(boxes, sizes, frame) {
    const overlap = (a, b) => Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]))
      * Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
    const placed = [];
    boxes.forEach(([x, y, w, h], index) => {
      const [tagW, tagH] = sizes[index];
      const others = boxes.filter((_, i) => i !== index).concat(placed);
      let best = null;
      for (const top of [y - tagH, y + h, y]) {
        for (const left of [x, x + w - tagW]) {
          const tag = [Math.min(Math.max(0, left), Math.max(0, frame[0] - tagW)),
            Math.min(Math.max(0, top), Math.max(0, frame[1] - tagH)), tagW, tagH];
          const covered = others.reduce((sum, other) => sum + overlap(tag, other), 0);
          if (!best || covered < best.covered) best = { covered, tag };
          if (covered === 0) break;
        }
        if (best.covered === 0) break;
      }
      placed.push(best.tag);
    });
    return placed.map(([left, top]) => [left, top]);
  }
})();
