/* The portal's forms, sent once from the page. A second press while the first is on its
   way (a double click, Enter again on a slow network) started a second sending, which the
   server's one-time token (once.py) turns into "sent before"; here it is not sent at all,
   and the form says it is busy meanwhile. Without this script the token alone holds.

   Busy is said with ARIA, not the disabled attribute: a disabled button drops the
   keyboard's focus, and its name and value would drop out of the sending. */
(function () {
  "use strict";

  const BUSY = 'form[aria-busy="true"]';

  // The attributes, not form.method: a field named "method" would shadow that property.
  function posts(form, submitter) {
    const method =
      (submitter && submitter.getAttribute("formmethod")) || form.getAttribute("method") || "get";
    return method.toLowerCase() === "post";
  }

  function mark(form, busy) {
    for (const control of form.elements) {
      if (control.type === "submit" || control.type === "image") {
        if (busy) control.setAttribute("aria-disabled", "true");
        else control.removeAttribute("aria-disabled");
      }
    }
    if (busy) form.setAttribute("aria-busy", "true");
    else form.removeAttribute("aria-busy");
  }

  // Bubbling to the document, so a submit another handler cancelled is not marked.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form.matches(BUSY)) {
      event.preventDefault();
    } else if (!event.defaultPrevented && posts(form, event.submitter)) {
      mark(form, true);
    }
  });

  // htmx's refresh of the attempts table would draw its Resend forms again, unmarked,
  // under a press already on its way: none is sent, nor one already sent swapped in.
  function holdWhileBusy(event) {
    if (document.querySelector(BUSY)) event.preventDefault();
  }
  document.addEventListener("htmx:beforeRequest", holdWhileBusy);
  document.addEventListener("htmx:beforeSwap", holdWhileBusy);

  // Back to a page the back-forward cache kept as it was left: busy, with nothing on its
  // way any more.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      for (const form of document.querySelectorAll(BUSY)) mark(form, false);
    }
  });
})();
