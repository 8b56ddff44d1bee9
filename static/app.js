// What htmx does not do for the settings pages: the modal dialog, copying a key or a command, keyboard tabs.
// Plain listeners in a file (no inline script), so a strict Content-Security-Policy holds.
(() => {
  "use strict";

  const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), '
    + 'select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

  function openDialog(dialog) {
    if (dialog.open) dialog.close();
    dialog.showModal();
  }

  // The button that opens the dialog, or that loaded it (a roll dialog names its row's Roll key button).
  function openerOf(dialog) {
    const loader = dialog.dataset.openedBy && document.getElementById(dialog.dataset.openedBy);
    return loader || document.querySelector(`[data-open-dialog="${dialog.id}"]`);
  }

  // Links that act as buttons once JavaScript runs (without it they stay plain links to fallback pages).
  // Tabs: only the selected one is a Tab stop, arrow keys reach the others (without JavaScript, all are).
  function enhance(root) {
    root.querySelectorAll("a[data-open-dialog], a[data-loads-dialog], a[data-close-dialog], a[data-dismiss-reveal], a[hx-delete]").forEach((link) => {
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
    const opener = event.target.closest("[data-open-dialog]");
    const dialog = opener && document.getElementById(opener.dataset.openDialog);
    if (dialog) {
      event.preventDefault();
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

  // A closed dialog gives focus back to the button that opens it, and a page served with the dialog
  // open (/settings/api-keys/new) goes back to the plain list URL. "close" does not bubble: capture it.
  document.addEventListener("close", (event) => {
    const dialog = event.target;
    if (!(dialog instanceof HTMLDialogElement)) return;
    const opener = openerOf(dialog);
    const lost = !document.activeElement || document.activeElement === document.body || dialog.contains(document.activeElement);
    if (opener && lost) opener.focus();
    const cancel = dialog.querySelector("a[data-close-dialog][href]");
    if (cancel && location.pathname.endsWith("/new")) history.replaceState(history.state, "", cancel.href);
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

  // After a create or a roll the dialog that held focus is gone: give focus to the new key's Copy button. After
  // the policy form is saved, its new copy's Save button takes the place of the one that had it. A dialog that
  // htmx brings in open (Roll API key) becomes a real modal.
  document.addEventListener("htmx:after:settle", () => {
    enhance(document);
    document.querySelectorAll("dialog[open]:not(:modal)").forEach(openDialog);
    const lost = !document.activeElement || document.activeElement === document.body;
    const next = document.querySelector(".reveal [data-copy]") || document.querySelector("#key-policy-form [type=submit]");
    if (next && lost) next.focus();
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
