// Labels and colours shared by the pages, from the server (webapp/pages.py: the
// model's output order and the palette the video is drawn in).
"use strict";

(function () {
  const settings = JSON.parse(document.getElementById("ui-settings").textContent);
  window.EMOTION_UI = Object.freeze({
    EMOTIONS: settings.emotions,
    EMOTION_COLOURS: settings.emotion_colours,
    FACE_COLOURS: settings.face_colours,
  });
})();
