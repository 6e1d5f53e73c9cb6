// Labels and colours shared by the pages (the model's output order).
"use strict";

window.EMOTION_UI = Object.freeze({
  EMOTIONS: ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
  EMOTION_COLOURS: {
    angry: "#e57373", disgust: "#9ccc65", fear: "#ba68c8", happy: "#ffd54f",
    sad: "#64b5f6", surprise: "#ff8a65", neutral: "#b0bec5",
  },
  FACE_COLOURS: ["#4fc3f7", "#ffb74d", "#81c784", "#f06292", "#ba68c8", "#fff176", "#4db6ac", "#e57373"],
});
