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
    // On a phone the main navigation scrolls sideways: keep the current
    // section in view.
    var current = document.querySelector(".mainnav [aria-current]");
    if (current && current.parentElement.scrollWidth > current.parentElement.clientWidth) {
      current.parentElement.scrollLeft = current.offsetLeft - current.parentElement.offsetLeft - 16;
    }
    // Say so when the board is wider than the window.
    var wraps = document.querySelectorAll("[data-overflow-hint]");
    function hint() {
      wraps.forEach(function (w) {
        var board = w.querySelector(".board");
        w.classList.toggle("board-overflows", !!board && board.scrollWidth > board.clientWidth + 1);
      });
    }
    hint();
    window.addEventListener("resize", hint);
  });
})();
