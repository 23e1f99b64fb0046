// Django admin fixes for WCAG 2.1 AA (tests/browser/test_axe.py), loaded by templates/admin/base_site.html.
// - The split date/time inputs (last login, date joined) have no label of their own: name them from
//   the row's label and the "Dato:"/"Tid:" text before each.
// - The select filter's search icons carry aria-label on a plain <span>: give them role="img".
(function () {
  "use strict";
  function fix(root) {
    root.querySelectorAll(".help-tooltip[aria-label]:not([role])").forEach(function (icon) {
      icon.setAttribute("role", "img");
    });
    root.querySelectorAll("p.datetime input:not([aria-label])").forEach(function (input) {
      var row = input.closest(".form-row, .fieldBox, div");
      var label = row && row.querySelector("label");
      var part = input.previousSibling;
      while (part && part.nodeType === 3 && !part.textContent.trim()) { part = part.previousSibling; }
      var partText = part && part.nodeType === 3 ? part.textContent.trim().replace(/:$/, "") : "";
      var name = ((label ? label.textContent.trim().replace(/:$/, "") : "") + (partText ? " – " + partText : "")).trim();
      if (name) { input.setAttribute("aria-label", name); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    fix(document);
    new MutationObserver(function () { fix(document); }).observe(document.body, { childList: true, subtree: true });
  });
})();
