// patchctl web UI: the little the pages need beyond htmx. Everything works
// without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("DOMContentLoaded", function () {
    // A refused form re-renders the page with an alert at the top: move the
    // focus there so that keyboard and screen reader users hear why.
    var alert = document.getElementById("alert");
    if (alert) {
      alert.setAttribute("tabindex", "-1");
      alert.focus();
    }
  });
})();
