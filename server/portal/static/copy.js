// The grant id's copy button: the only script of the portal. Every page
// works without it (the id is plain, selectable text); with it, the hidden
// buttons appear. It is loaded from this origin, so the CSP needs no
// 'unsafe-inline'. It never touches a secret: the only values it copies are
// grant ids already on the page.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  if (!navigator.clipboard) {
    return; // no clipboard API (plain HTTP on a non-local host): keep them hidden
  }
  var status = document.getElementById("copy-status");
  document.querySelectorAll("button.copy[data-copy]").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      navigator.clipboard.writeText(b.getAttribute("data-copy")).then(function () {
        b.classList.add("copied");
        if (status) {
          status.textContent = "Grant id copied.";
        }
        setTimeout(function () { b.classList.remove("copied"); }, 1500);
      }, function () {
        if (status) {
          status.textContent = "Could not copy; select the id instead.";
        }
      });
    });
  });
});
