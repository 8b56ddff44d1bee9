// What htmx does not do for the API Keys tab: the modal dialog, copying the key, keyboard tabs.
// Plain listeners in a file (no inline script), so a strict Content-Security-Policy holds.
(() => {
  "use strict";

  function openDialog(dialog) {
    if (dialog.open) dialog.close();
    dialog.showModal();
  }

  async function copyFrom(button) {
    const field = document.querySelector(button.dataset.copy);
    const feedback = button.closest(".reveal")?.querySelector("[data-copy-feedback]");
    try {
      await navigator.clipboard.writeText(field.value);
      if (feedback) feedback.textContent = "Copied to the clipboard.";
    } catch {
      field.select();
      if (feedback) feedback.textContent = "Press Ctrl+C (or ⌘C) to copy the selected key.";
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
    }
  });

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

  // After a create the dialog that held focus is gone: give focus to the new key's Copy button.
  document.addEventListener("htmx:after:settle", () => {
    const copy = document.querySelector(".reveal [data-copy]");
    if (copy && (!document.activeElement || document.activeElement === document.body)) copy.focus();
  });

  // A page served with the dialog open (no-JS fallback, or a failed create) gets a real modal.
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("dialog[open]").forEach(openDialog);
  });

  // Never leave a revealed key in a page the browser keeps for the back button.
  window.addEventListener("pagehide", () => {
    document.querySelectorAll(".reveal").forEach((panel) => panel.remove());
  });
})();
