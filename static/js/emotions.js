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
  });
})();
