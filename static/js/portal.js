// Small, CSP-friendly behaviours: no inline script anywhere in the portal.
(function () {
  "use strict";

  // <button data-copy-target="#id"> copies that element's text to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy-target"));
    if (!source) return;
    var text = source.value !== undefined ? source.value : source.textContent;
    navigator.clipboard.writeText(text.trim()).then(function () {
      var original = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = original; }, 2000);
    });
  });

  // <div data-replace-url="/keys/ID/"> on a page that must not come back on reload (the
  // one-time secret): the address bar moves to that URL, so a reload opens it instead of
  // re-posting the form. (HTMX swaps get the same from the HX-Replace-Url header.)
  var replace = document.querySelector("[data-replace-url]");
  if (replace && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", replace.getAttribute("data-replace-url"));
  }

  // <details data-open-wide> starts open on wide screens and folded on phones.
  function openWide() {
    if (!window.matchMedia("(min-width: 800px)").matches) return;
    document.querySelectorAll("details[data-open-wide]").forEach(function (details) {
      details.open = true;
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", openWide);
  } else {
    openWide();
  }
})();
