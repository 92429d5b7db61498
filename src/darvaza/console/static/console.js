// Darvaza's console: small progressive touches; every page works without them.
"use strict";
// A form sent once: its buttons are disabled until the next page (the server also
// refuses to act twice on one form id).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || form.dataset.sent === "1") {
    if (form.dataset && form.dataset.sent === "1") event.preventDefault();
    return;
  }
  form.dataset.sent = "1";
  const buttons = form.querySelectorAll("button[type=submit], button:not([type])");
  setTimeout(() => buttons.forEach((button) => { button.disabled = true; }), 0);
  // A form that leaves the page as it is (a download) can be sent again in a while.
  setTimeout(() => {
    delete form.dataset.sent;
    buttons.forEach((button) => { button.disabled = false; });
  }, 4000);
});
// The language menu changes the page as soon as a language is picked.
document.addEventListener("change", (event) => {
  const select = event.target;
  if (select instanceof HTMLSelectElement && select.id === "language-choice") select.form.requestSubmit();
});
// Pages restored from the back/forward cache get their forms back.
window.addEventListener("pageshow", () => {
  document.querySelectorAll("form[data-sent]").forEach((form) => {
    delete form.dataset.sent;
    form.querySelectorAll("button").forEach((button) => { button.disabled = false; });
  });
});
// An upload form (data-upload): sent with XMLHttpRequest so a progress bar can show how
// far the file has gone; the page it leads to is then shown as the browser would.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-upload")) return;
  event.preventDefault();
  const bar = form.querySelector("progress");
  const request = new XMLHttpRequest();
  request.open("POST", form.action);
  request.setRequestHeader("Accept", "text/html");
  request.upload.addEventListener("progress", (progress) => {
    if (bar && progress.lengthComputable) {
      bar.hidden = false;
      bar.value = Math.round((progress.loaded / progress.total) * 100);
    }
  });
  request.addEventListener("load", () => {
    if (request.responseURL && request.responseURL !== form.action && request.status < 400) {
      window.location.assign(request.responseURL);
      return;
    }
    document.open();
    document.write(request.responseText);
    document.close();
  });
  request.send(new FormData(form));
}, true);
