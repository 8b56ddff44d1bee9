// What htmx does not do for the settings pages: the modal dialogs, copying a key or a command, keyboard tabs, the
// expiration's "Works through" line, and the key search's choices.
// Plain listeners in a file (no inline script), so a strict Content-Security-Policy holds.
(() => {
  "use strict";

  const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), '
    + 'select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  // A key pasted into the search box is cut to its hint before it goes into a URL.
  const WHOLE_KEY = /^(fq_[0-9A-Za-z]{4})[0-9A-Za-z]{34}$/;

  // The link or button that opened (or loaded) the dialog open now, by id when it has one: the list is often
  // swapped while the dialog is up, and its new copy is the one to give focus back to.
  let opener = null;

  function openDialog(dialog) {
    if (dialog.open) dialog.close();
    dialog.showModal();
  }

  function openerOf(dialog) {
    const again = opener && opener.id && document.getElementById(opener.id);
    if (again) return again;
    if (opener && opener.isConnected) return opener;
    return document.querySelector(`[data-open-dialog="${dialog.id}"]`);
  }

  // A date as the server writes it ("Nov 27, 2026") from a date field's YYYY-MM-DD, or "" when it is not one.
  function shownDay(value) {
    const parts = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
    return parts && MONTHS[Number(parts[2]) - 1] ? `${MONTHS[Number(parts[2]) - 1]} ${Number(parts[3])}, ${parts[1]}` : "";
  }

  // The Expiration's "Works through" line for the choice picked now: a preset's day as the server computed it
  // (the end of that day in the team's zone), or the custom date's; none for No expiration.
  function showWorksThrough(box) {
    const select = box.querySelector("select");
    const chosen = select.selectedOptions[0];
    const day = select.value === "custom"
      ? shownDay(box.querySelector('input[type="date"]').value)
      : (chosen && chosen.dataset.worksThrough) || "";
    box.querySelector(".works-through").textContent = day ? `Works through ${day} (${box.dataset.zone})` : "";
    select.querySelectorAll("option").forEach((option) => option.toggleAttribute("data-previewed", option === chosen));
  }

  // Links that act as buttons once JavaScript runs (without it they stay plain links to fallback pages).
  // Tabs: only the selected one is a Tab stop, arrow keys reach the others (without JavaScript, all are).
  function enhance(root) {
    root.querySelectorAll("a[data-open-dialog], a[data-loads-dialog], a[data-close-dialog], a[data-dismiss-reveal]").forEach((link) => {
      link.setAttribute("role", "button");
      if (link.dataset.openDialog || "loadsDialog" in link.dataset) link.setAttribute("aria-haspopup", "dialog");
    });
    root.querySelectorAll('[role="tab"]').forEach((tab) => {
      if (tab.getAttribute("aria-selected") !== "true") tab.tabIndex = -1;
    });
  }

  // Copy a field's value or a code block's text; its box (.copyable) says how it went.
  async function copyFrom(button) {
    const source = document.querySelector(button.dataset.copy);
    const isField = source instanceof HTMLTextAreaElement || source instanceof HTMLInputElement;
    const feedback = button.closest(".copyable")?.querySelector("[data-copy-feedback]");
    try {
      await navigator.clipboard.writeText(isField ? source.value : source.textContent);
      if (feedback) feedback.textContent = "Copied to the clipboard.";
    } catch {
      if (isField) source.select();
      else window.getSelection().selectAllChildren(source);
      if (feedback) feedback.textContent = "Press Ctrl+C (or ⌘C) to copy the selected text.";
    }
  }

  document.addEventListener("click", (event) => {
    const loader = event.target.closest("[data-loads-dialog]");
    if (loader) {
      opener = loader;  // htmx loads the dialog
      return;
    }
    const openButton = event.target.closest("[data-open-dialog]");
    const dialog = openButton && document.getElementById(openButton.dataset.openDialog);
    if (dialog) {
      event.preventDefault();
      opener = openButton;
      openDialog(dialog);
      return;
    }
    const closer = event.target.closest("[data-close-dialog]");
    if (closer && closer.closest("dialog")) {
      event.preventDefault();
      closer.closest("dialog").close();
      return;
    }
    const copier = event.target.closest("[data-copy]");
    if (copier) {
      copyFrom(copier);
      return;
    }
    const dismiss = event.target.closest("[data-dismiss-reveal]");
    if (dismiss) {
      event.preventDefault();
      dismiss.closest(".reveal").remove();
      // Focus was in the panel: hand it to what follows it, the selected filter tab.
      document.querySelector('[role="tab"][aria-selected="true"]')?.focus();
    }
  });

  // A form sent makes what earlier saves said stale ("Saved." beside another form): its answer brings its own.
  document.addEventListener("submit", () => {
    document.querySelectorAll("main .notice").forEach((notice) => notice.remove());
  }, true);

  // Space activates a link that acts as a button, as it would a real button.
  document.addEventListener("keydown", (event) => {
    if (event.key === " " && event.target.matches('a[role="button"]')) {
      event.preventDefault();
      event.target.click();
    }
  });

  // Tab and Shift+Tab stay inside an open modal dialog, wrapping at either end.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Tab") return;
    const dialog = [...document.querySelectorAll("dialog[open]")].find((d) => d.matches(":modal"));
    if (!dialog) return;
    const stops = [...dialog.querySelectorAll(FOCUSABLE)].filter((el) => el.getClientRects().length > 0);
    if (!stops.length) return;
    const first = stops[0];
    const last = stops[stops.length - 1];
    const inside = dialog.contains(document.activeElement);
    if (!inside || (event.shiftKey && document.activeElement === first)) {
      event.preventDefault();
      (event.shiftKey ? last : first).focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });

  // A closed dialog gives focus back to what opened it, and a page served with the dialog open
  // (/settings/api-keys/new) goes back to the plain list URL. A confirmation dialog that htmx loaded is gone once
  // closed (the next one is loaded afresh). "close" does not bubble: capture it.
  document.addEventListener("close", (event) => {
    const dialog = event.target;
    if (!(dialog instanceof HTMLDialogElement) || dialog.open) return;  // closed by openDialog, and modal now
    const gated = dialog.dataset.resubmit && document.getElementById(dialog.dataset.resubmit);
    const back = gated ? gated.querySelector("[type=submit]") : openerOf(dialog);
    const lost = !document.activeElement || document.activeElement === document.body || dialog.contains(document.activeElement);
    if (back && lost) back.focus();
    const cancel = dialog.querySelector("a[data-close-dialog][href]");
    if (!gated && cancel && location.pathname.endsWith("/new")) history.replaceState(history.state, "", cancel.href);
    if (dialog.closest("#dialog-slot, #access-slot")) dialog.remove();
  }, true);

  // Confirm access: the form htmx sent is still under the dialog as the admin filled it in; Confirm sends it again
  // with the password, added to that one request's body (never to the page). Without a form to send again, the
  // dialog's own form posts the gated fields it carries.
  let confirming = null;
  document.addEventListener("submit", (event) => {
    const confirmForm = event.target.closest("#confirm-access-form");
    const dialog = confirmForm && confirmForm.closest("dialog[data-resubmit]");
    const gated = dialog && document.getElementById(dialog.dataset.resubmit);
    if (!gated) return;
    event.preventDefault();
    confirming = { form: gated, password: confirmForm.elements.access_password.value };
    dialog.close();
    gated.requestSubmit();
  });
  document.addEventListener("htmx:config:request", (event) => {
    if (!confirming || event.target !== confirming.form) return;
    event.detail.ctx.request.body.set("access_password", confirming.password);
    confirming = null;
  });

  // As the admin picks an expiration, say the day the key works through.
  const followExpiration = (event) => {
    const box = event.target.closest(".expiration");
    if (box) showWorksThrough(box);
  };
  document.addEventListener("change", followExpiration);
  document.addEventListener("input", followExpiration);

  // The key search: a new order or the Not used filter searches at once (without JavaScript, Search does).
  document.addEventListener("change", (event) => {
    const form = event.target.closest("form[data-submit-on-change]");
    if (form && event.target.matches("select, input[type=checkbox]")) form.requestSubmit();
  });
  document.addEventListener("submit", (event) => {
    const search = event.target.querySelector("#key-search");
    const whole = search && WHOLE_KEY.exec(search.value.trim());
    if (whole) search.value = whole[1];
  }, true);

  // Arrow keys move between tabs, as the ARIA tab pattern expects.
  document.addEventListener("keydown", (event) => {
    const tab = event.target.closest('[role="tab"]');
    if (!tab || !["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) return;
    const tabs = [...tab.closest('[role="tablist"]').querySelectorAll('[role="tab"]')];
    const index = tabs.indexOf(tab);
    const next = {
      ArrowLeft: tabs[(index - 1 + tabs.length) % tabs.length],
      ArrowRight: tabs[(index + 1) % tabs.length],
      Home: tabs[0],
      End: tabs[tabs.length - 1],
    }[event.key];
    event.preventDefault();
    next.focus();
  });

  // After a create, a roll or a regenerate the dialog that held focus is gone: give focus to the new key's Copy
  // button. After another confirmation, to its message, or back to what opened the dialog. After the policy form is
  // saved, its new copy's Save button takes the place of the one that had it. A dialog that htmx brings in open
  // becomes a real modal.
  document.addEventListener("htmx:after:settle", () => {
    enhance(document);
    document.querySelectorAll("dialog[open]:not(:modal)").forEach(openDialog);
    const lost = !document.activeElement || document.activeElement === document.body;
    const next = document.querySelector(".reveal [data-copy]") || document.querySelector("[data-takes-focus]")
      || (opener && opener.id && document.getElementById(opener.id))
      || document.querySelector("#key-policy-form [type=submit]");
    if (next && lost) {
      next.focus();
      next.removeAttribute("data-takes-focus");  // once: a later swap must not bring focus back to it
    }
  });

  // A page served with the dialog open (no-JS fallback, or a failed create) gets a real modal.
  document.addEventListener("DOMContentLoaded", () => {
    enhance(document);
    document.querySelectorAll("dialog[open]").forEach(openDialog);
  });

  // Never leave a revealed key in a page the browser keeps for the back button.
  window.addEventListener("pagehide", () => {
    document.querySelectorAll(".reveal").forEach((panel) => panel.remove());
  });
})();
