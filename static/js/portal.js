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

  // <form data-submit-once>: a second submit (a double click) is dropped, so a form whose
  // answer shows a secret once cannot send a second request that hides the first answer.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("[data-submit-once]")) return;
    if (form.getAttribute("data-submitted")) {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-submitted", "1");
  });
  // A page restored by the back button may submit again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-submitted]").forEach(function (form) {
      form.removeAttribute("data-submitted");
    });
  });

  // <details data-open-wide> starts open on wide screens and folded on phones.
  function openWide() {
    if (!window.matchMedia("(min-width: 800px)").matches) return;
    document.querySelectorAll("details[data-open-wide]").forEach(function (details) {
      details.open = true;
    });
  }
  // <p data-browser-zone hidden> on the preferences page: shown with the browser's own time
  // zone, and its <button data-use-browser-zone="#select"> picks that zone in the list.
  function offerBrowserZone() {
    var hint = document.querySelector("[data-browser-zone]");
    if (!hint || !window.Intl) return;
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var button = hint.querySelector("[data-use-browser-zone]");
    var select = button && document.querySelector(button.getAttribute("data-use-browser-zone"));
    if (!zone || !select || !select.querySelector('option[value="' + zone + '"]')) return;
    hint.querySelector("[data-browser-zone-name]").textContent = zone;
    hint.hidden = false;
    button.addEventListener("click", function () { select.value = zone; select.focus(); });
  }

  // <button type="submit" formaction="…" data-native-submit> in an HTMX form: a download. HTMX
  // would fetch it and swap the file into the page, so the form is sent the browser's own way
  // (form.submit() fires no submit event, so HTMX does not see it), to the button's address.
  document.addEventListener("htmx:confirm", function (event) {
    var trigger = event.detail.triggeringEvent;
    var button = trigger && trigger.submitter;
    if (!button || !button.hasAttribute("data-native-submit")) return;
    event.preventDefault();
    var form = event.detail.elt;
    var action = form.getAttribute("action");
    form.setAttribute("action", button.getAttribute("formaction"));
    form.submit();
    form.setAttribute("action", action);
  });

  // An error summary (<div data-error-summary tabindex="-1">) takes the focus when a form comes
  // back with errors, whole page or HTMX swap, so keyboard and screen-reader users land on it.
  function focusErrorSummary(root) {
    var summary = (root || document).querySelector("[data-error-summary]");
    if (summary) summary.focus();
  }
  document.addEventListener("htmx:afterSwap", function (event) { focusErrorSummary(event.target); });

  function ready() {
    openWide();
    offerBrowserZone();
    focusErrorSummary(document);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
