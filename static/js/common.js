// Helpers shared by the pages: element lookup, the message line, and requests
// whose failures (no connection, HTTP errors, a proxy's HTML error page) become
// errors with a message a person can read.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  // Shows text in the page's #message line (an empty text hides it).
  function showMessage(text) {
    $("message").textContent = text;
    $("message").hidden = !text;
  }

  // The message for an HTTP answer that is not a success: the API's own
  // {"error": {"message"}} where there is one, else the status (a proxy's HTML page).
  function errorMessage(status, statusText, bodyText) {
    try {
      const body = JSON.parse(bodyText);
      if (body && body.error && body.error.message) return body.error.message;
    } catch { /* not JSON */ }
    const reason = statusText ? ` ${statusText}` : "";
    return `The server answered HTTP ${status}${reason}. Please try again in a moment.`;
  }

  class RequestError extends Error {
    constructor(message, status, code) {
      super(message);
      this.name = "RequestError";
      this.status = status; // 0 when the server could not be reached
      this.code = code || null;
    }
  }

  // fetch() that resolves to the parsed JSON of a 2xx answer (null for 204) and
  // rejects with a RequestError for everything else.
  async function fetchJSON(url, options) {
    let response;
    try {
      response = await fetch(url, options);
    } catch {
      throw new RequestError("The server could not be reached. Check the connection and try again.", 0);
    }
    const text = await response.text();
    if (!response.ok) {
      let code = null;
      try { code = JSON.parse(text).error.code; } catch { /* not the API's error */ }
      throw new RequestError(errorMessage(response.status, response.statusText, text), response.status, code);
    }
    if (response.status === 204 || !text) return null;
    try {
      return JSON.parse(text);
    } catch {
      throw new RequestError(`The server answered HTTP ${response.status} with something other than data. Please try again.`,
        response.status);
    }
  }

  window.COMMON = Object.freeze({ $, showMessage, errorMessage, fetchJSON, RequestError });
})();
