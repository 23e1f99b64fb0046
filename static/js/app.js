// Small behaviours that CSP allows only from a file: confirm before dangerous
// actions (data-confirm) and focus the first error after an htmx swap.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var message = form.getAttribute && form.getAttribute("data-confirm");
  if (message && !window.confirm(message)) { event.preventDefault(); }
}, true);
document.addEventListener("htmx:afterSwap", function (event) {
  var error = event.detail.target.querySelector("[role=alert]");
  if (error) { error.setAttribute("tabindex", "-1"); error.focus(); }
});
