// Small behaviours that CSP allows only from a file: confirm before dangerous actions
// (data-confirm), focus and announcement after an htmx swap, and the day list's keys.
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  }, true);

  // Tell a screen reader what changed: a hidden paragraph in the page's one live region
  // (base.html, #messages; the server's messages stay). Emptied first so the same text
  // twice in a row is read twice.
  function announce(text) {
    var region = document.getElementById("messages");
    text = (text || "").replace(/\s+/g, " ").trim();
    if (!region || !text) { return; }
    var spoken = region.querySelector(".announcer");
    if (!spoken) {
      spoken = document.createElement("p");
      spoken.className = "announcer visually-hidden";
      region.appendChild(spoken);
    }
    spoken.textContent = "";
    window.setTimeout(function () { spoken.textContent = text; }, 50);
  }

  function focusable(element) {
    if (!element.hasAttribute("tabindex") && !/^(A|BUTTON|INPUT|SELECT|TEXTAREA|SUMMARY)$/.test(element.tagName)) {
      element.setAttribute("tabindex", "-1");
    }
    element.focus({ preventScroll: false });
  }

  // After an in-place update the focus would fall to <body>: put it where the user is working.
  // An invalid field first (its error is read with it), then an error, then the swapped element's
  // own focus target (data-focus, a day-list row), its first heading, or the element itself.
  // What to announce: the element's data-announce, else its role=alert/status text.
  document.addEventListener("htmx:afterSwap", function (event) {
    // An out-of-band piece of the same answer (the case page's chronology) gets this event too, and
    // first: it is neither the swapped element nor inside it, so it takes no focus.
    var elt = event.detail.elt, swapped = event.detail.target;
    if (elt && swapped && elt !== swapped && elt.id !== swapped.id && !swapped.contains(elt)) { return; }
    var target = elt && elt.isConnected ? elt : null;
    if (!target || target === document.body) {
      var id = event.detail.target && event.detail.target.id;
      target = (id && document.getElementById(id)) || event.detail.target;
    }
    if (!target || !target.isConnected) { return; }
    // Only when the focus was lost with the old element (a search field being typed in, a
    // progress row polled every second keep theirs).
    var active = document.activeElement;
    var lost = !active || active === document.body || !active.isConnected;
    if (lost && !target.hasAttribute("data-no-focus")) {
      var spot = target.querySelector("[aria-invalid=true]") || target.querySelector("[role=alert]") ||
        (target.matches("[data-focus]") ? target : target.querySelector("[data-focus]")) ||
        target.querySelector("h1, h2, h3") || target;
      focusable(spot);
    }
    var said = target.getAttribute("data-announce") ||
      (target.querySelector("[data-announce]") || {}).textContent ||
      (lost ? (target.querySelector("[role=alert], [role=status]") || {}).textContent : "");
    announce(said);
  });

  // The day list: with a row focused (Tab to it or click on it), M records "Møtt" and I opens
  // "Ikke møtt" with its reason; arrow keys move between rows. Documented on the page.
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var active = document.activeElement;
    if (!active || /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) { return; }
    var row = active.closest && active.closest("tr[data-row]");
    if (!row) { return; }
    var key = event.key.toLowerCase();
    if (key === "m" || key === "i") {
      var button = row.querySelector("[data-key=" + key + "]");
      if (!button || button.disabled) { return; }
      event.preventDefault();
      if (button.tagName === "SUMMARY") {
        button.parentElement.open = true;
        var first = button.parentElement.querySelector("select, button");
        if (first) { first.focus(); }
      } else {
        button.click();
      }
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (active !== row) { return; }
      var next = event.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
      while (next && !next.hasAttribute("data-row")) {
        next = event.key === "ArrowDown" ? next.nextElementSibling : next.previousElementSibling;
      }
      if (next) { event.preventDefault(); next.focus(); }
    }
  });
})();
// Out-of-band swaps (the letter page's start button coming back when a batch is ready) say what they bring.
document.addEventListener("htmx:oobAfterSwap", function (event) {
  var spoken = event.detail.target && event.detail.target.querySelector && event.detail.target.querySelector("[data-announce]");
  var region = document.getElementById("messages");
  if (!spoken || !region) { return; }
  var p = region.querySelector(".announcer") || region.appendChild(document.createElement("p"));
  p.className = "announcer visually-hidden";
  p.textContent = spoken.textContent.replace(/\s+/g, " ").trim();
});
// A whole page drawn again after a refused form (a plain POST, no htmx): the focus goes to the first
// marked field, whose message is read with it (aria-describedby), else to the form's message.
document.addEventListener("DOMContentLoaded", function () {
  if (document.activeElement && document.activeElement !== document.body) { return; }
  var main = document.getElementById("main") || document;
  var spot = main.querySelector("[aria-invalid=true]") || main.querySelector(".form-errors[role=alert], .error[role=alert]");
  if (!spot) { return; }
  var closed = spot.closest("details:not([open])");
  if (closed) { closed.open = true; }
  if (!/^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(spot.tagName)) { spot.setAttribute("tabindex", "-1"); }
  spot.focus();
});
