// qbizfed web broker: progressive enhancements only; every page works without JS.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button.copy[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source || !navigator.clipboard) return;
      await navigator.clipboard.writeText(source.textContent);
      button.textContent = "Copied";
    });
  }
  const endSession = document.querySelector("form[data-autosubmit='true']");
  if (endSession) endSession.submit();
});
